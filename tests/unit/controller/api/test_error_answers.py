"""Every error answer of the API carries a stable code, and the field at fault where there is one."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy.exc import DataError

from controller.api import error_answers
from controller.api.bulletins import BulletinCreate
from controller.api.schemas import SlugField
from controller.errors import DomainError
from loalang_protocol.mqtt import AckTimeout, NotConnected

pytestmark = pytest.mark.unit


class Form(BaseModel):
    id: SlugField
    name: Annotated[str, StringConstraints(max_length=5)]
    volume: Annotated[int, Field(ge=0, le=100)] = 50


def small_app() -> FastAPI:
    app = FastAPI()

    @app.post("/things")
    async def add(form: Form) -> dict[str, str]:
        return {"id": form.id}

    @app.get("/refused")
    async def refuse() -> None:
        raise DomainError("wrong_login", "wrong user name or password", 401, "password")

    @app.get("/unstorable")
    async def unstorable() -> None:
        raise DataError("INSERT", {}, ValueError("NUL"))

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("/work/secret.py line 3")

    @app.get("/broker-down")
    async def broker_down() -> None:
        raise NotConnected("loa/v1/dev/loa-1/command")

    @app.get("/broker-hangs")
    async def broker_hangs() -> None:
        raise AckTimeout("the broker did not acknowledge within 10 s")

    error_answers.install(app)
    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(small_app(), raise_server_exceptions=False)


def test_a_domain_error_answers_its_code_and_field(client: TestClient) -> None:
    answer = client.get("/refused")
    assert answer.status_code == 401
    assert answer.json() == {"detail": "wrong user name or password", "code": "wrong_login",
                             "field": "password"}


@pytest.mark.parametrize(("body", "field", "code"), [
    ({"id": "Thon-Dong", "name": "a"}, "id", "bad_id"),
    ({"name": "a"}, "id", "missing"),
    ({"id": "thon-dong", "name": "abcdefgh"}, "name", "too_long"),
    ({"id": "thon-dong", "name": "a", "volume": "loud"}, "volume", "not_a_number"),
    ({"id": "thon-dong", "name": "a", "volume": 101}, "volume", "out_of_range"),
])
def test_invalid_input_names_the_first_field_and_the_kind_of_mistake(
        client: TestClient, body: dict[str, object], field: str, code: str) -> None:
    answer = client.post("/things", json=body)
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_input"
    assert answer.json()["field"] == field
    assert answer.json()["detail"][0]["code"] == code


def test_unreadable_json_is_invalid_input_without_a_field(client: TestClient) -> None:
    answer = client.post("/things", content=b"{not json", headers={"Content-Type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_input"
    assert answer.json()["detail"][0]["code"] == "bad_json"
    assert "field" not in answer.json()


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/no-such-page", 404, "not_found"),
    ("DELETE", "/refused", 405, "method_not_allowed"),
])
def test_starlettes_own_refusals_carry_a_code_by_status(client: TestClient, method: str, path: str,
                                                        status: int, code: str) -> None:
    answer = client.request(method, path)
    assert (answer.status_code, answer.json()["code"]) == (status, code)


def test_a_value_the_database_refuses_and_an_internal_error_carry_codes(client: TestClient) -> None:
    unstorable = client.get("/unstorable")
    assert (unstorable.status_code, unstorable.json()["code"]) == (422, "value_not_storable")
    broken = client.get("/broken")
    assert broken.status_code == 500
    assert broken.json() == {"detail": "internal error", "code": "internal_error"}


def test_a_validators_own_error_gives_its_code_and_field() -> None:
    app = FastAPI()

    @app.post("/bulletins")
    async def draft(body: BulletinCreate) -> None:
        return None

    error_answers.install(app)
    answer = TestClient(app).post("/bulletins", json={
        "title": "Tiếp sóng", "relay_url": "https://radio.example.vn/vov1.mp3"})
    assert answer.status_code == 422
    assert (answer.json()["field"], answer.json()["detail"][0]["code"]) == ("duration_ms",
                                                                          "relay_needs_duration")


@pytest.mark.parametrize("path", ["/broker-down", "/broker-hangs"])
def test_a_broker_down_or_hanging_answers_503_broker_unreachable(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert answer.json()["code"] == "broker_unreachable" and "nothing was sent" in answer.json()["detail"]
