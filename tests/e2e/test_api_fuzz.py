"""Property-based input to every operation of the API document: nothing makes the controller fail (5xx).

Schemathesis generates requests from the OpenAPI document, valid and invalid, and sends them
with an admin's API key to a controller of their own (its own database, Redis database and broker),
so that whatever they create or delete touches no other test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error

from loalang_stack.services import ControllerProcess
from tests.testkit import ADMIN_PASSWORD, Stack, own_controller

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 25
STREAMS = {"/api/v1/feed"}


@pytest.fixture(scope="module")
def fuzzed(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControllerProcess, str]]:
    with own_controller(stack, tmp_path_factory.mktemp("fuzz"), LOALANG_INSTANCE_ID="ctl-fuzz") as process:
        yield process, admin_key(process)


def admin_key(process: ControllerProcess) -> str:
    """An admin's API key on the fuzzed controller, a province made for the requests to refer to."""
    with httpx.Client(base_url=process.url, timeout=15) as http:
        token = http.post("/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
                          ).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        http.post("/api/v1/areas", json={"id": "tinh-thu", "name": "Tỉnh", "level": "province"})
        return str(http.post("/api/v1/api-clients", json={"id": "fuzz-admin", "name": "Fuzz", "role": "admin"}
                             ).json()["key"])


def test_no_generated_request_makes_the_controller_fail(fuzzed: tuple[ControllerProcess, str]) -> None:
    controller, key = fuzzed
    schema = schemathesis.openapi.from_url(f"{controller.url}/openapi.json")
    headers = {"Authorization": f"Bearer {key}"}
    failures: list[str] = []
    # the feed streams for as long as its reader stays (an hour): tested by reading it (test_console)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [operation for operation in operations if operation.path not in STREAMS]
    assert len(operations) > 30

    for operation in operations:
        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
                             suppress_health_check=list(hypothesis.HealthCheck), database=None)
        def call(case: Any) -> None:
            response = case.call(base_url=controller.url, headers=headers, timeout=30)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            call()
        except (Exception, BaseExceptionGroup) as exc:  # collected: one run reports every failing operation
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:800]}")
    assert not failures, "\n\n".join(failures)
