"""Logins outlive a Redis that came back empty: the database holds them, and a revoked one stays
revoked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loalang_stack.services import ControllerProcess
from tests.testkit import ADMIN_PASSWORD, Stack, flush_redis, own_controller

pytestmark = pytest.mark.e2e

API = "/api/v1"
REDIS_DB = "7"  # this test's controller's own Redis database, wiped at will


@pytest.fixture
def controller_on_own_redis(stack: Stack, tmp_path: Path) -> Iterator[ControllerProcess]:
    with own_controller(stack, tmp_path,
                        LOALANG_REDIS_URL=f"redis://127.0.0.1:{stack.redis_port}/{REDIS_DB}") as controller:
        yield controller


def test_a_console_session_and_a_bearer_token_survive_a_wiped_redis(
        controller_on_own_redis: ControllerProcess, stack: Stack) -> None:
    url = controller_on_own_redis.url
    bearer = httpx.post(f"{url}{API}/auth/token",
                        data={"username": "admin", "password": ADMIN_PASSWORD}).json()["access_token"]
    console = httpx.Client(base_url=url, timeout=15)
    opened = console.post(f"{API}/auth/session", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert opened.status_code == 200, opened.text
    csrf = opened.json()["csrf_token"]

    flush_redis(stack, REDIS_DB)
    again = console.get(f"{API}/auth/session")
    assert again.status_code == 200 and again.json()["user"]["username"] == "admin", "still logged in"
    assert 0 < again.json()["expires_in"] <= opened.json()["expires_in"]
    headers = {"Authorization": f"Bearer {bearer}"}
    assert httpx.get(f"{url}{API}/areas", headers=headers).status_code == 200, "the token still works"
    created = console.post(f"{API}/areas", headers={"X-CSRF-Token": csrf},
                           json={"id": "tinh-phien", "name": "Tỉnh Phiên", "level": "province"})
    assert created.status_code == 201, "the operator's work goes on without logging in again"

    assert console.delete(f"{API}/auth/session").status_code == 204
    flush_redis(stack, REDIS_DB)
    assert console.get(f"{API}/auth/session", cookies={"loalang_session": opened.cookies["loalang_session"]}
                       ).status_code == 204, "a session ended stays ended"
    console.close()
