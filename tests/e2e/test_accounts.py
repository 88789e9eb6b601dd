"""Users and API clients: roles scoped to area subtrees, logins that end when they should, audited."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from loalang_stack.services import ControllerProcess
from tests.testkit import Fleet, login, new_commune, user_client

pytestmark = pytest.mark.e2e

API = "/api/v1"
PASSWORD = "mat-khau-dai-du"


@pytest.fixture
def admin(fleet: Fleet) -> Fleet:
    return fleet


def user_body(role: str, area_id: str | None, **extra: Any) -> dict[str, Any]:
    return {"username": f"{role}.{secrets.token_hex(3)}", "password": PASSWORD, "role": role,
            "area_id": area_id, **extra}


def new_user(admin: httpx.Client, role: str, area_id: str | None, **extra: Any) -> dict[str, Any]:
    response = admin.post(f"{API}/users", json=user_body(role, area_id, **extra))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def client_for(controller: ControllerProcess, token: str) -> httpx.Client:
    return httpx.Client(base_url=controller.url, timeout=15, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def commune_operator(admin: Fleet, controller: ControllerProcess) -> Iterator[httpx.Client]:
    user = new_user(admin.http, "operator", "xa-mot")
    with login(controller.url, user["username"], PASSWORD) as client:
        yield client


def test_a_commune_operator_neither_sees_nor_addresses_another_commune(
        admin: Fleet, commune_operator: httpx.Client) -> None:
    mine, _ = admin.register("thon-a")
    theirs, _ = admin.register("thon-c")
    areas = {a["id"] for a in commune_operator.get(f"{API}/areas").json()}
    assert {"xa-mot", "thon-a", "thon-b"} <= areas
    assert not areas & {"tinh-thu", "xa-hai", "thon-c"}
    devices = {d["id"] for d in commune_operator.get(f"{API}/devices").json()}
    assert mine in devices and theirs not in devices
    assert commune_operator.get(f"{API}/areas/thon-c").status_code == 403
    assert commune_operator.get(f"{API}/devices/{theirs}").status_code == 403
    assert commune_operator.get(f"{API}/devices/{mine}").status_code == 200
    tone = {"level": "normal", "start_ms": 4_000_000_000_000, "duration_ms": 1000,
            "source": {"type": "tone", "frequency_hz": 440}}
    assert commune_operator.post(f"{API}/occurrences", json={"area_id": "thon-c", **tone}).status_code == 403
    assert commune_operator.post(f"{API}/occurrences", json={"device_id": theirs, **tone}).status_code == 403
    assert commune_operator.post(f"{API}/areas/xa-hai/commands", json={"name": "ping"}).status_code == 403
    assert commune_operator.patch(f"{API}/devices/{theirs}/settings", json={"volume": 10}).status_code == 403
    assert commune_operator.get(f"{API}/users").status_code == 403, "operators do not manage users"
    assert commune_operator.get(f"{API}/audit").status_code == 403


def test_a_scoped_admin_manages_only_the_users_of_its_subtree(admin: Fleet,
                                                              controller: ControllerProcess) -> None:
    outsider = new_user(admin.http, "viewer", "xa-hai")
    commune_admin = new_user(admin.http, "admin", "xa-mot")
    with login(controller.url, commune_admin["username"], PASSWORD) as http:
        village = http.post(f"{API}/users", json=user_body("operator", "thon-a"))
        assert village.status_code == 201, village.text
        for area_id in ("xa-hai", None):
            refused = http.post(f"{API}/users", json=user_body("viewer", area_id))
            assert refused.status_code == 403, refused.text
        listed = {u["username"] for u in http.get(f"{API}/users").json()}
        assert village.json()["username"] in listed and outsider["username"] not in listed
        assert "admin" not in listed, "the whole-tree admin is outside a commune admin's scope"
        assert http.get(f"{API}/users/{outsider['id']}").status_code == 403
        assert http.patch(f"{API}/users/{outsider['id']}", json={"disabled": True}).status_code == 403
        moved = http.patch(f"{API}/users/{village.json()['id']}", json={"area_id": "thon-c"})
        assert moved.status_code == 403, "cannot give an area outside its own"
        own = http.patch(f"{API}/users/{commune_admin['id']}", json={"role": "viewer"})
        assert own.status_code == 403, "cannot change its own role"


def test_logins_end_when_the_password_changes_or_the_user_is_disabled(
        admin: Fleet, controller: ControllerProcess) -> None:
    user = new_user(admin.http, "viewer", "xa-mot", full_name="Trần Thị B")
    first = login(controller.url, user["username"], PASSWORD)
    assert first.get(f"{API}/users/me").json()["full_name"] == "Trần Thị B"
    wrong = first.post(f"{API}/users/me/password",
                       json={"current_password": "doan-bua", "new_password": "x" * 12})
    assert wrong.status_code == 403
    changed = first.post(f"{API}/users/me/password",
                         json={"current_password": PASSWORD, "new_password": "mat-khau-moi-dai"})
    assert changed.status_code == 204
    assert first.get(f"{API}/areas").status_code == 401, "the old login ended"
    second = login(controller.url, user["username"], "mat-khau-moi-dai")
    assert second.get(f"{API}/areas").status_code == 200
    renamed = admin.http.patch(f"{API}/users/{user['id']}", json={"full_name": "Trần Thị C"})
    assert renamed.status_code == 200 and second.get(f"{API}/areas").status_code == 200
    assert admin.http.patch(f"{API}/users/{user['id']}", json={"disabled": True}).status_code == 200
    assert second.get(f"{API}/areas").status_code == 401
    refused = httpx.post(f"{controller.url}{API}/auth/token",
                         data={"username": user["username"], "password": "mat-khau-moi-dai"})
    assert refused.status_code == 401
    audit = admin.http.get(f"{API}/audit", params={"limit": 50}).json()
    updates = [e for e in audit if e["action"] in ("user.update", "user.password") and user["username"]
               in e["targets"]]
    assert {e["action"] for e in updates} == {"user.update", "user.password"}
    assert PASSWORD not in str(audit) and "mat-khau-moi-dai" not in str(audit)


def test_the_console_session_is_a_cookie_that_changes_nothing_without_its_csrf_token(
        admin: Fleet, controller: ControllerProcess) -> None:
    user = new_user(admin.http, "admin", "xa-mot")
    console = httpx.Client(base_url=controller.url, timeout=15)
    wrong = console.post(f"{API}/auth/session", json={"username": user["username"], "password": "doan-bua"})
    assert wrong.status_code == 401 and "loalang_session" not in wrong.headers.get("set-cookie", "")
    opened = console.post(f"{API}/auth/session", json={"username": user["username"], "password": PASSWORD})
    assert opened.status_code == 200, opened.text
    cookie = opened.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/api/" in cookie
    assert "secure" not in cookie, "the controller's public URL here is plain http"
    csrf = opened.json()["csrf_token"]
    assert opened.json()["user"]["username"] == user["username"]

    assert console.get(f"{API}/users/me").json()["username"] == user["username"]
    assert console.get(f"{API}/auth/session").json()["csrf_token"] == csrf, "a reloaded page gets it again"
    name = console.get(f"{API}/areas/xa-mot").json()["name"]
    change = {"name": name}  # a change that leaves the area as the other tests expect it
    forged = console.patch(f"{API}/areas/xa-mot", json=change)
    assert forged.status_code == 403 and "X-CSRF-Token" in forged.text, "a cookie alone changes nothing"
    wrong_token = console.patch(f"{API}/areas/xa-mot", json=change, headers={"X-CSRF-Token": "0" * 64})
    assert wrong_token.status_code == 403
    right_token = console.patch(f"{API}/areas/xa-mot", json=change, headers={"X-CSRF-Token": csrf})
    assert right_token.status_code == 200

    stolen = dict(console.cookies)
    assert console.delete(f"{API}/auth/session").status_code == 204
    assert console.get(f"{API}/users/me").status_code == 401
    assert console.get(f"{API}/auth/session").status_code == 204
    replayed = httpx.get(f"{controller.url}{API}/users/me", cookies=stolen)
    assert replayed.status_code == 401, "a logged-out session is over on the server too"
    hostile = httpx.get(f"{controller.url}{API}/users/me", cookies={"loalang_session": "x" * 5000})
    assert hostile.status_code == 401
    assert httpx.get(f"{controller.url}{API}/auth/session").status_code == 204, "nobody is logged in"
    assert httpx.post(f"{controller.url}{API}/auth/session", content=b"{not json").status_code == 422


def test_api_clients_authenticate_with_their_key_within_role_and_scope(
        admin: Fleet, controller: ControllerProcess) -> None:
    suffix = secrets.token_hex(3)
    alert = admin.http.post(f"{API}/api-clients", json={
        "id": f"canh-bao-{suffix}", "name": "Trung tâm cảnh báo", "role": "alert", "area_id": "tinh-thu"})
    assert alert.status_code == 201, alert.text
    with client_for(controller, alert.json()["key"]) as http:
        assert http.get(f"{API}/devices").status_code == 403, "the alert role views nothing"
        assert http.get(f"{API}/users/me").status_code == 404
    viewer = admin.http.post(f"{API}/api-clients", json={"id": f"he-thong-{suffix}", "name": "Hệ thống tỉnh",
                                                          "role": "viewer", "area_id": "xa-mot"}).json()
    key = viewer["key"]
    with client_for(controller, key) as http:
        areas = http.get(f"{API}/areas").json()
        assert {"xa-mot", "thon-a", "thon-b"} <= {a["id"] for a in areas}, "its commune (tests add villages)"
        assert all(a["id"] == "xa-mot" or a["parent_id"] == "xa-mot" for a in areas), "and nothing outside it"
        assert http.get(f"{API}/areas/xa-hai").status_code == 403
    listed = admin.http.get(f"{API}/api-clients").json()
    assert all("key" not in c and "key_hash" not in c for c in listed)
    assert next(c for c in listed if c["id"] == viewer["id"])["last_used_at"] is not None
    rotated = admin.http.post(f"{API}/api-clients/{viewer['id']}/key").json()["key"]
    assert client_for(controller, key).get(f"{API}/areas").status_code == 401, "the old key stopped"
    assert client_for(controller, rotated).get(f"{API}/areas").status_code == 200
    assert admin.http.delete(f"{API}/api-clients/{viewer['id']}").status_code == 204
    assert client_for(controller, rotated).get(f"{API}/areas").status_code == 401
    forged = [f"lk.{viewer['id']}.{'A' * 43}", "lk..x", "lk.x", f"lk.{viewer['id']}", "lk.a.b.c", "x" * 300]
    for token in forged:
        assert client_for(controller, token).get(f"{API}/areas").status_code == 401, token


@pytest.mark.parametrize("body, problem", [
    ({"username": "Nguyen Van A"}, "username"),
    ({"username": "nguyễn"}, "username"),
    ({"username": "ab"}, "username"),
    ({"password": "ngan"}, "password"),
    ({"password": "x" * 257}, "password"),
    ({"role": "alert"}, "role"),
    ({"role": "root"}, "role"),
    ({"area_id": "khong-co-xa-nay"}, "no such area"),
    ({"area_id": "../../etc"}, "area_id"),
    ({"is_admin": True}, "is_admin"),
    ({"full_name": "a\x00b"}, "full_name"),
])
def test_bad_user_input_is_refused_with_the_reason(admin: Fleet, body: dict[str, Any], problem: str) -> None:
    good = {"username": f"tot.{secrets.token_hex(3)}", "password": PASSWORD, "role": "viewer",
            "area_id": "xa-mot"}
    before = len(admin.http.get(f"{API}/users").json())
    response = admin.http.post(f"{API}/users", json={**good, **body})
    assert response.status_code == 422, response.text
    assert problem in response.text
    assert len(admin.http.get(f"{API}/users").json()) == before


def test_a_taken_user_name_is_a_conflict(admin: Fleet) -> None:
    user = new_user(admin.http, "viewer", "xa-mot")
    again = admin.http.post(f"{API}/users", json={"username": user["username"], "password": PASSWORD,
                                                   "role": "viewer", "area_id": "xa-mot"})
    assert again.status_code == 409


def test_a_commune_admin_reads_only_the_audit_of_its_commune(admin: Fleet) -> None:
    """Entries made by people of another commune, about its areas, stay out of a commune admin's log."""
    ours, (our_village,) = new_commune(admin, villages=1)
    theirs, (their_village,) = new_commune(admin, villages=1)
    our_admin, _ = user_client(admin, "admin", ours)
    their_operator, their_name = user_client(admin, "operator", theirs)
    our_operator, our_operator_name = user_client(admin, "operator", ours)
    for http, village in ((their_operator, their_village), (our_operator, our_village)):
        http.post(f"{API}/broadcasts/stop-all", json={"area_id": village}).raise_for_status()
    seen = our_admin.get(f"{API}/audit", params={"limit": 1000}).json()
    actors = {entry["actor"] for entry in seen}
    assert our_operator_name in actors and their_name not in actors
    assert not any(their_village in entry["targets"] or theirs in entry["targets"] for entry in seen)
    everything = admin.http.get(f"{API}/audit", params={"limit": 1000}).json()
    assert their_name in {entry["actor"] for entry in everything}, "the whole tree's admin reads it all"
