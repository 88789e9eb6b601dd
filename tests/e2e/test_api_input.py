"""Malformed, oversized and hostile input on every API entry point.

Each must get a clear 4xx (never a 500) with a JSON `detail` naming the problem, no traceback or
file path in the body, and must change nothing: areas, devices and the audit log stay as they were.
The enrolment rate-limit test blocks this address for ten minutes, so it comes last and clears
the block again.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from loalang_protocol.keys import KeyPair
from loalang_protocol.slugs import is_slug
from loalang_stack.services import ControllerProcess
from tests.testkit import ADMIN_PASSWORD, Fleet, Stack

pytestmark = pytest.mark.e2e

API = "/api/v1"
LEAK = re.compile(r'Traceback|File "|\.py\b|site-packages|/work/|/tmp/|sqlalchemy|sqlite|IntegrityError'
                  r"|pydantic_core|redis\.exceptions", re.IGNORECASE)
ENROLL_FAILURES = "loa:enroll-failures:127.0.0.1"
JSON_HEADERS = {"Content-Type": "application/json"}


# --------------------------------------------------------------------------------------------- helpers


def rejected(response: httpx.Response, status: int, *words: str) -> Any:
    """Assert a clean rejection: the status, a JSON detail containing every word, nothing internal."""
    assert response.status_code == status, f"{response.status_code}: {response.text[:500]}"
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict) and "detail" in body, response.text[:500]
    detail = body["detail"]
    assert detail, response.text[:500]
    text = json.dumps(detail, ensure_ascii=False).lower()
    for word in words:
        assert word.lower() in text, f"{word!r} not named in {text[:500]}"
    leak = LEAK.search(response.text)
    assert leak is None, f"internal detail {leak.group(0)!r} in {response.text[:500]}"
    return detail


def snapshot(fleet: Fleet) -> tuple[Any, ...]:
    """What a rejected request must not change: areas, devices and the newest audit entry."""
    areas = fleet.http.get(f"{API}/areas").json()
    devices = sorted(
        (d["id"], d["name"], d["area_id"], d["latitude"], d["longitude"], d["volume"], d["desired_version"],
         d["enrolled"])
        for d in fleet.http.get(f"{API}/devices").json()
    )
    audit = fleet.http.get(f"{API}/audit", params={"limit": 1}).json()
    return areas, devices, audit[0]["id"] if audit else None


def raw(client: httpx.Client, method: str, url: str, content: bytes | str) -> httpx.Response:
    """Send a body exactly as given, labelled as JSON."""
    return client.request(method, url, content=content, headers=JSON_HEADERS)


def one_shot(fleet: Fleet) -> httpx.Client:
    """A separate admin client that does not reuse connections (a 500 may close its connection)."""
    return httpx.Client(base_url=fleet.controller.url, timeout=15,
                        headers={"Authorization": fleet.http.headers["Authorization"], "Connection": "close"})


# -------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def admin(controller: ControllerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """One logged-in fleet helper for the whole module (a login costs an argon2 hash)."""
    helper = Fleet(controller, tmp_path_factory.mktemp("api-input"))
    helper.ensure_areas()
    yield helper
    helper.close()


@pytest.fixture
def anon(controller: ControllerProcess) -> Iterator[httpx.Client]:
    """A client without any token."""
    with httpx.Client(base_url=controller.url, timeout=15) as client:
        yield client


@pytest.fixture(scope="module")
def device(admin: Fleet) -> str:
    """A registered (not enrolled) device in thon-a to aim device requests at."""
    device_id, _code = admin.register("thon-a")
    return device_id


@pytest.fixture
def redis_client(stack: Stack) -> Iterator[redis.Redis]:
    client = redis.Redis(port=stack.redis_port)
    yield client
    client.close()


@pytest.fixture
def enrol_failures_cleared(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    """Failed enrolments from this address count toward a 10-minute block: start and end at zero."""
    redis_client.delete(ENROLL_FAILURES)
    yield redis_client
    redis_client.delete(ENROLL_FAILURES)


# ------------------------------------------------------------------------------------------------ login


@pytest.mark.parametrize("form", [
    {},
    {"username": "admin"},
    {"password": "whatever"},
    {"username": "", "password": "whatever"},
], ids=["nothing", "no password", "no username", "empty username"])
def test_login_missing_fields(anon: httpx.Client, form: dict[str, str]) -> None:
    missing = [name for name in ("username", "password") if not form.get(name)]
    rejected(anon.post(f"{API}/auth/token", data=form), 422, *missing)


def test_login_with_json_instead_of_a_form(anon: httpx.Client) -> None:
    rejected(anon.post(f"{API}/auth/token", json={"username": "admin", "password": "x"}), 422,
             "username", "password", "field required")


def test_login_huge_username_and_password(anon: httpx.Client) -> None:
    throwaway = f"huge-{uuid.uuid4().hex}"
    response = anon.post(f"{API}/auth/token", data={"username": throwaway + "x" * 1_000_000, "password": "p"})
    rejected(response, 401, "wrong user name or password")
    response = anon.post(f"{API}/auth/token", data={"username": throwaway, "password": "p" * 1_000_000})
    rejected(response, 401, "wrong user name or password")
    # a body over the controller's 1 MiB request limit is refused before it is read
    huge = throwaway + "x" * 1024 * 1024
    rejected(anon.post(f"{API}/auth/token", data={"username": huge, "password": "p"}), 413, "request body")


def test_login_wrong_password(admin: Fleet, anon: httpx.Client) -> None:
    response = anon.post(f"{API}/auth/token", data={"username": "admin", "password": "not-the-password"})
    rejected(response, 401, "wrong user name or password")
    assert "access_token" not in response.text
    admin.login()  # a success clears admin's failure count again


def test_login_rate_limit_per_user_name(anon: httpx.Client, redis_client: redis.Redis) -> None:
    username = f"throwaway-{uuid.uuid4().hex[:12]}"
    try:
        for _ in range(10):
            rejected(anon.post(f"{API}/auth/token", data={"username": username, "password": "guess"}), 401,
                     "wrong user name or password")
        for _ in range(2):
            rejected(anon.post(f"{API}/auth/token", data={"username": username, "password": "guess"}), 429,
                     "too many login attempts")
    finally:
        redis_client.delete(f"loa:login:{username}:127.0.0.1")


def test_login_rate_limit_per_address_whatever_the_user_names(anon: httpx.Client,
                                                              redis_client: redis.Redis) -> None:
    key = "loa:login-from:127.0.0.1"
    before = redis_client.get(key)
    try:
        guess = {"username": f"u-{uuid.uuid4().hex[:8]}", "password": "g"}
        rejected(anon.post(f"{API}/auth/token", data=guess), 401, "wrong user name or password")
        assert int(redis_client.get(key) or 0) == int(before or 0) + 1, "failures are counted per address"
        redis_client.set(key, 100, ex=60)  # as after a hundred guesses at many user names
        rejected(anon.post(f"{API}/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}), 429,
                 "too many login attempts")
    finally:
        redis_client.delete(key)


# ----------------------------------------------------------------------------------------------- tokens

PUBLIC = {("POST", "/api/v1/auth/token"), ("POST", "/api/v1/enroll"),
          ("POST", "/api/v1/auth/session"),  # the console's login
          ("DELETE", "/api/v1/auth/session"),  # logging out always succeeds (tested with the sessions)
          ("GET", "/api/v1/auth/session"),  # who is logged in: nobody (204) without a live session cookie
          ("POST", "/api/v1/devices/{device_id}/logs"),  # device-signed, tested with the device logs
          ("POST", "/api/v1/devices/{device_id}/broker-login")}  # device-signed: test_broker_security.py


def protected_routes(anon: httpx.Client) -> list[tuple[str, str]]:
    """Every operation of the API document but logging in and out, enrolment and the device-signed upload."""
    document = anon.get("/openapi.json").json()
    routes = [(method.upper(), path) for path, operations in document["paths"].items()
              for method in operations if path.startswith(API)]
    assert len(routes) > 25
    return [(method, re.sub(r"\{[^}]+\}", "x", path)) for method, path in routes
            if (method, path) not in PUBLIC]


BAD_AUTH = {
    "no token": None,
    "garbage token": "Bearer not-a-real-token",
    "10 KB token": "Bearer " + "A" * 10 * 1024,
    "scheme only": "Bearer",
    "two tokens": "Bearer a Bearer b",
    "basic scheme": "Basic YWRtaW46YWRtaW4=",
    "token without scheme": "x" * 43,
    "API key of no client": "Bearer lk.nobody.c2VjcmV0",
    "API key, empty client": "Bearer lk..c2VjcmV0",
}


@pytest.mark.parametrize("auth", BAD_AUTH.values(), ids=BAD_AUTH.keys())
def test_protected_endpoints_refuse_bad_tokens(admin: Fleet, anon: httpx.Client, auth: str | None) -> None:
    before = snapshot(admin)
    headers = {"Authorization": auth} if auth is not None else {}
    for method, path in protected_routes(anon):
        body = {"name": "Xã Lạ", "level": "commune", "parent_id": "tinh-thu"} if method == "POST" else None
        response = anon.request(method, path, headers=headers, json=body)
        rejected(response, 401, "not authenticated")
        assert response.headers.get("www-authenticate") == "Bearer", (method, path)
    assert snapshot(admin) == before


# ------------------------------------------------------------------------------------------------ areas

VILLAGE = {"name": "Thôn Thử", "level": "village", "parent_id": "xa-mot"}

AREA_CASES: list[tuple[str, bytes | dict[str, Any], tuple[str, ...]]] = [
    ("invalid json", b'{"name": "x", ', ("json",)),
    ("not an object", b"[]", ("dictionary",)),
    ("a string", b'"village"', ("dictionary",)),
    ("null", b"null", ("dictionary",)),
    ("empty object", {}, ("name", "level", "required")),
    ("name is a number", {**VILLAGE, "name": 123}, ("name", "string")),
    ("name empty", {**VILLAGE, "name": ""}, ("name",)),
    ("name only spaces", {**VILLAGE, "name": "   "}, ("name",)),
    ("name 10000 chars", {**VILLAGE, "name": "x" * 10000}, ("name", "200")),
    ("level is a list", {**VILLAGE, "level": ["village"]}, ("level",)),
    ("level not a word", {**VILLAGE, "level": "Village!"}, ("level",)),
    ("unknown field", {**VILLAGE, "colour": "red"}, ("colour", "extra")),
    ("id traversal", {**VILLAGE, "id": "../x"}, ("id",)),
    ("id with space", {**VILLAGE, "id": "A B"}, ("id",)),
    ("id hash", {**VILLAGE, "id": "#"}, ("id",)),
    ("id plus", {**VILLAGE, "id": "a+b"}, ("id",)),
    ("id 100 chars", {**VILLAGE, "id": "x" * 100}, ("id",)),
    ("id empty", {**VILLAGE, "id": ""}, ("id",)),
    ("id double dash", {**VILLAGE, "id": "a--b"}, ("must be 1-48 characters",)),
    ("id number", {**VILLAGE, "id": 7}, ("id", "string")),
    ("id already taken", {**VILLAGE, "id": "thon-a"}, ("already exists",)),
    ("parent does not exist", {**VILLAGE, "parent_id": "no-such-parent"},
     ("no-such-parent", "does not exist")),
    ("parent not a slug", {**VILLAGE, "parent_id": "../tinh-thu"}, ("parent_id",)),
    ("quiet start 25:00", {**VILLAGE, "quiet_start": "25:00"}, ("quiet_start",)),
    ("quiet end 7:00", {**VILLAGE, "quiet_end": "7:00"}, ("quiet_end",)),
    ("quiet end words", {**VILLAGE, "quiet_end": "noon"}, ("quiet_end",)),
    ("quiet start number", {**VILLAGE, "quiet_start": 2200}, ("quiet_start",)),
    ("ducking above 0 dB", {**VILLAGE, "ducking_db": 6}, ("ducking_db", "0")),
    ("ducking below -40 dB", {**VILLAGE, "ducking_db": -41}, ("ducking_db", "-40")),
    ("ducking in words", {**VILLAGE, "ducking_db": "quiet"}, ("ducking_db",)),
    ("latitude 91", {**VILLAGE, "latitude": 91}, ("latitude", "90")),
    ("latitude -91", {**VILLAGE, "latitude": -91}, ("latitude", "-90")),
    ("longitude 181", {**VILLAGE, "longitude": 181}, ("longitude", "180")),
    ("latitude text", {**VILLAGE, "latitude": "north"}, ("latitude",)),
    ("timezone too long", {**VILLAGE, "timezone": "Asia/" + "x" * 100}, ("timezone",)),
]


@pytest.mark.parametrize(("body", "words"), [(b, w) for _, b, w in AREA_CASES],
                         ids=[c[0] for c in AREA_CASES])
def test_create_area_rejects(admin: Fleet, body: bytes | dict[str, Any], words: tuple[str, ...]) -> None:
    before = snapshot(admin)
    if isinstance(body, bytes):
        response = raw(admin.http, "POST", f"{API}/areas", body)
    else:
        response = admin.http.post(f"{API}/areas", json=body)
    rejected(response, 422, *words)
    assert snapshot(admin) == before


def test_create_area_wrong_content_type(admin: Fleet) -> None:
    before = snapshot(admin)
    response = admin.http.post(f"{API}/areas", content=json.dumps(VILLAGE),
                               headers={"Content-Type": "text/plain"})
    rejected(response, 422, "dictionary")
    assert snapshot(admin) == before


def test_create_area_two_megabyte_body(admin: Fleet) -> None:
    before = snapshot(admin)
    rejected(admin.http.post(f"{API}/areas", json={**VILLAGE, "name": "x" * 2 * 1024 * 1024}), 413, "body")
    response = admin.http.post(f"{API}/areas", json={**VILLAGE, "pad": "x" * 2 * 1024 * 1024})
    rejected(response, 413, "request body is over")
    assert snapshot(admin) == before


@pytest.mark.parametrize("path", ["no-such-area", "x" * 3000, "a%2Fb", "%2E%2E", "A%20B", "%00"])
def test_get_unknown_area(admin: Fleet, path: str) -> None:
    response = admin.http.get(f"{API}/areas/{path}")
    assert response.status_code == 404, response.text
    rejected(response, 404)


NON_FINITE = ["NaN", "Infinity", "-Infinity"]


@pytest.mark.parametrize("number", NON_FINITE)
def test_create_area_non_finite_latitude(admin: Fleet, number: str) -> None:
    before = snapshot(admin)
    body = f'{{"name": "Thôn NaN", "level": "village", "parent_id": "xa-mot", "latitude": {number}}}'
    with one_shot(admin) as client:
        rejected(raw(client, "POST", f"{API}/areas", body.encode()), 422, "latitude")
    assert snapshot(admin) == before


def test_generated_area_id_is_a_slug_after_a_collision(admin: Fleet) -> None:
    name = "y" * 43 + " dup"  # slug 'yyy...y-dup': its first 44 characters end with '-'
    first = admin.http.post(f"{API}/areas", json={"name": name, "level": "village", "parent_id": "xa-hai"})
    assert first.status_code == 201, first.text
    second = admin.http.post(f"{API}/areas", json={"name": name, "level": "village", "parent_id": "xa-hai"})
    assert second.status_code == 201, second.text
    assert is_slug(second.json()["id"]), second.json()["id"]


# ---------------------------------------------------------------------------------------------- devices

DEVICE = {"name": "Cụm loa thử", "area_id": "thon-a", "latitude": 18.68, "longitude": 105.68}

DEVICE_CASES: list[tuple[str, bytes | dict[str, Any], tuple[str, ...]]] = [
    ("invalid json", b'{"name": "x", "area_id": ', ("json",)),
    ("truncated json", json.dumps(DEVICE).encode()[:30], ("json",)),
    ("not an object", b"[1, 2]", ("dictionary",)),
    ("empty object", {}, ("name", "area_id", "required")),
    ("area does not exist", {**DEVICE, "area_id": "no-such-area"}, ("no-such-area", "does not exist")),
    ("area traversal", {**DEVICE, "area_id": "../thon-a"}, ("area_id",)),
    ("area wildcard", {**DEVICE, "area_id": "#"}, ("area_id",)),
    ("area number", {**DEVICE, "area_id": 5}, ("area_id",)),
    ("latitude 91", {**DEVICE, "latitude": 91}, ("latitude",)),
    ("latitude -90.5", {**DEVICE, "latitude": -90.5}, ("latitude",)),
    ("longitude 180.1", {**DEVICE, "longitude": 180.1}, ("longitude",)),
    ("longitude -181", {**DEVICE, "longitude": -181}, ("longitude",)),
    ("latitude text", {**DEVICE, "latitude": "18N"}, ("latitude",)),
    ("latitude null", {**DEVICE, "latitude": None}, ("latitude",)),
    ("latitude missing", {k: v for k, v in DEVICE.items() if k != "latitude"}, ("latitude", "neither")),
    ("id traversal", {**DEVICE, "id": "../x"}, ("id",)),
    ("id with space", {**DEVICE, "id": "A B"}, ("id",)),
    ("id hash", {**DEVICE, "id": "#"}, ("id",)),
    ("id slash", {**DEVICE, "id": "a/b"}, ("id",)),
    ("id 100 chars", {**DEVICE, "id": "x" * 100}, ("id",)),
    ("id uppercase", {**DEVICE, "id": "LOA-1"}, ("id",)),
    ("id double dash", {**DEVICE, "id": "loa--1"}, ("must be 1-48 characters",)),
    ("name 10000 chars", {**DEVICE, "name": "x" * 10000}, ("name", "200")),
    ("name empty", {**DEVICE, "name": ""}, ("name",)),
    ("name a list", {**DEVICE, "name": ["a"]}, ("name",)),
    ("is_test a word", {**DEVICE, "is_test": "perhaps"}, ("is_test",)),
    ("unknown field", {**DEVICE, "volume": 100}, ("volume", "extra")),
    ("name 900 KB", {**DEVICE, "name": "x" * 900 * 1024}, ("name",)),
    ("900 KB unknown field", {**DEVICE, "pad": "x" * 900 * 1024}, ("pad", "extra")),
    ("control characters in the name", {**DEVICE, "name": "a\x00b"}, ("name",)),
]


def test_create_device_two_megabyte_body(admin: Fleet) -> None:
    before = snapshot(admin)
    response = admin.http.post(f"{API}/devices", json={**DEVICE, "name": "x" * 2 * 1024 * 1024})
    rejected(response, 413, "request body is over")
    assert snapshot(admin) == before


@pytest.mark.parametrize(("body", "words"), [(b, w) for _, b, w in DEVICE_CASES],
                         ids=[c[0] for c in DEVICE_CASES])
def test_create_device_rejects(admin: Fleet, body: bytes | dict[str, Any], words: tuple[str, ...]) -> None:
    before = snapshot(admin)
    if isinstance(body, bytes):
        response = raw(admin.http, "POST", f"{API}/devices", body)
    else:
        response = admin.http.post(f"{API}/devices", json=body)
    rejected(response, 422, *words)
    assert snapshot(admin) == before


def test_create_device_duplicate_id(admin: Fleet, device: str) -> None:
    before = snapshot(admin)
    response = admin.http.post(f"{API}/devices", json={**DEVICE, "id": device, "area_id": "thon-b"})
    rejected(response, 422, device, "already exists")
    assert snapshot(admin) == before
    assert admin.device(device)["area_id"] == "thon-a"


@pytest.mark.parametrize("number", NON_FINITE)
def test_create_device_non_finite_coordinates(admin: Fleet, number: str) -> None:
    before = snapshot(admin)
    body = f'{{"name": "Loa NaN", "area_id": "thon-a", "latitude": {number}, "longitude": 105.6}}'
    with one_shot(admin) as client:
        rejected(raw(client, "POST", f"{API}/devices", body.encode()), 422, "latitude")
    assert snapshot(admin) == before


def test_generated_device_id_is_a_slug_after_a_collision(admin: Fleet) -> None:
    name = "z" * 43 + " dup"  # slug 'zzz...z-dup': its first 44 characters end with '-'
    created = []
    try:
        for _ in range(2):
            response = admin.http.post(f"{API}/devices", json={**DEVICE, "name": name, "area_id": "thon-c"})
            assert response.status_code == 201, response.text
            created.append(response.json()["device"]["id"])
        assert is_slug(created[1]), created[1]
        with one_shot(admin) as client:
            sent = client.post(f"{API}/devices/{created[1]}/commands", json={"name": "ping"})
            assert sent.status_code == 202, sent.text
    finally:
        with one_shot(admin) as client:
            for device_id in created:
                client.delete(f"{API}/devices/{device_id}")


# ------------------------------------------------------------------------- operations on one device

UNKNOWN_IDS = ["no-such-device", "x" * 3000, "a%2Fb", "%2E%2E", "..%2Fthon-a", "A%20B", "%00", "loa%23x"]


@pytest.mark.parametrize("device_id", UNKNOWN_IDS)
def test_unknown_or_hostile_device_ids(admin: Fleet, device_id: str) -> None:
    before = snapshot(admin)
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "", None), ("DELETE", "", None), ("POST", "/move", {"area_id": "thon-b"}),
        ("PATCH", "/settings", {"volume": 50}), ("POST", "/commands", {"name": "ping"}),
        ("GET", "/commands/c-0123456789abcdef", None), ("POST", "/claim-code", None),
        ("GET", "/events", None),
    ]
    for method, leaf, body in calls:
        response = admin.http.request(method, f"{API}/devices/{device_id}{leaf}", json=body)
        rejected(response, 404)
        if "%2F" not in device_id and "%00" not in device_id:  # a decoded '/' matches no route at all,
            rejected(response, 404, "no such device")  # and a NUL is refused before any route
    assert snapshot(admin) == before


def test_dot_segments_do_not_reach_another_device(admin: Fleet, device: str) -> None:
    before = snapshot(admin)
    for path in (f"..%2F{device}", f"%2E%2E/{device}", f"x/..%2F..%2Fdevices%2F{device}"):
        response = admin.http.delete(f"{API}/devices/{path}")
        assert response.status_code in (404, 405), response.text
        rejected(response, response.status_code)
    assert snapshot(admin) == before
    assert admin.device(device)["id"] == device


MOVE_CASES: list[tuple[str, bytes | dict[str, Any], tuple[str, ...]]] = [
    ("area does not exist", {"area_id": "no-such-area"}, ("no-such-area", "does not exist")),
    ("area traversal", {"area_id": "../thon-b"}, ("area_id",)),
    ("area wildcard", {"area_id": "+"}, ("area_id",)),
    ("area 100 chars", {"area_id": "x" * 100}, ("area_id",)),
    ("area number", {"area_id": 1}, ("area_id",)),
    ("area null", {"area_id": None}, ("area_id",)),
    ("no area", {}, ("area_id", "required")),
    ("unknown field", {"area_id": "thon-b", "force": True}, ("force", "extra")),
    ("invalid json", b'{"area_id": "thon-b"', ("json",)),
    ("not an object", b'"thon-b"', ("dictionary",)),
]


@pytest.mark.parametrize(("body", "words"), [(b, w) for _, b, w in MOVE_CASES],
                         ids=[c[0] for c in MOVE_CASES])
def test_move_device_rejects(admin: Fleet, device: str, body: bytes | dict[str, Any],
                             words: tuple[str, ...]) -> None:
    before = snapshot(admin)
    if isinstance(body, bytes):
        response = raw(admin.http, "POST", f"{API}/devices/{device}/move", body)
    else:
        response = admin.http.post(f"{API}/devices/{device}/move", json=body)
    rejected(response, 422, *words)
    assert snapshot(admin) == before
    assert admin.device(device)["area_id"] == "thon-a"


SETTINGS_CASES: list[tuple[str, bytes | dict[str, Any], tuple[str, ...]]] = [
    ("volume -1", {"volume": -1}, ("volume", "0")),
    ("volume 101", {"volume": 101}, ("volume", "100")),
    ("volume huge", {"volume": 10**30}, ("volume",)),
    ("volume loud", {"volume": "loud"}, ("volume",)),
    ("volume null", {"volume": None}, ("volume",)),
    ("volume fraction", {"volume": 50.5}, ("volume",)),
    ("volume list", {"volume": [50]}, ("volume",)),
    ("no volume", {}, ("volume", "required")),
    ("unknown field", {"volume": 50, "bass": 3}, ("bass", "extra")),
    ("invalid json", b'{"volume": ', ("json",)),
    ("not an object", b"50", ("dictionary",)),
]


@pytest.mark.parametrize(("body", "words"), [(b, w) for _, b, w in SETTINGS_CASES],
                         ids=[c[0] for c in SETTINGS_CASES])
def test_change_settings_rejects(admin: Fleet, device: str, body: bytes | dict[str, Any],
                                 words: tuple[str, ...]) -> None:
    before = snapshot(admin)
    if isinstance(body, bytes):
        response = raw(admin.http, "PATCH", f"{API}/devices/{device}/settings", body)
    else:
        response = admin.http.patch(f"{API}/devices/{device}/settings", json=body)
    rejected(response, 422, *words)
    assert snapshot(admin) == before
    state = admin.device(device)
    assert (state["volume"], state["desired_version"]) == (70, 0)


@pytest.mark.parametrize("number", NON_FINITE)
def test_change_settings_non_finite_volume(admin: Fleet, device: str, number: str) -> None:
    before = snapshot(admin)
    with one_shot(admin) as client:
        response = raw(client, "PATCH", f"{API}/devices/{device}/settings", f'{{"volume": {number}}}')
        rejected(response, 422, "volume")
    assert snapshot(admin) == before


COMMAND_CASES: list[tuple[str, bytes | dict[str, Any], tuple[str, ...]]] = [
    ("name with spaces", {"name": "play loud"}, ("name",)),
    ("name uppercase", {"name": "PING"}, ("name",)),
    ("name empty", {"name": ""}, ("name",)),
    ("name 33 chars", {"name": "p" * 33}, ("name",)),
    ("name traversal", {"name": "../ping"}, ("name",)),
    ("name wildcard", {"name": "#"}, ("name",)),
    ("name number", {"name": 1}, ("name",)),
    ("no name", {"args": {}}, ("name", "required")),
    ("args a list", {"name": "ping", "args": [1, 2]}, ("args", "dictionary")),
    ("args a string", {"name": "ping", "args": "x=1"}, ("args", "dictionary")),
    ("args a number", {"name": "ping", "args": 1}, ("args", "dictionary")),
    ("args null", {"name": "ping", "args": None}, ("args", "dictionary")),
    ("unknown field", {"name": "ping", "target": "all"}, ("target", "extra")),
    ("invalid json", b'{"name": "ping", "args": {', ("json",)),
]


@pytest.mark.parametrize(("body", "words"), [(b, w) for _, b, w in COMMAND_CASES],
                         ids=[c[0] for c in COMMAND_CASES])
def test_send_command_rejects(admin: Fleet, device: str, body: bytes | dict[str, Any],
                              words: tuple[str, ...]) -> None:
    before = snapshot(admin)
    if isinstance(body, bytes):
        response = raw(admin.http, "POST", f"{API}/devices/{device}/commands", body)
    else:
        response = admin.http.post(f"{API}/devices/{device}/commands", json=body)
    rejected(response, 422, *words)
    assert snapshot(admin) == before  # an accepted command would be in the audit log


def test_send_command_non_finite_args(admin: Fleet, device: str) -> None:
    before = snapshot(admin)
    with one_shot(admin) as client:
        body = '{"name": "ping", "args": {"x": NaN}}'
        response = raw(client, "POST", f"{API}/devices/{device}/commands", body)
        rejected(response, 422, "args")
    assert snapshot(admin) == before


def test_send_command_oversized_args(admin: Fleet, device: str) -> None:
    before = snapshot(admin)
    response = admin.http.post(f"{API}/devices/{device}/commands",
                               json={"name": "ping", "args": {"pad": "x" * 300_000}})
    assert 400 <= response.status_code < 500, response.text
    rejected(response, response.status_code, "args")
    assert snapshot(admin) == before


@pytest.mark.parametrize("command_id", ["c-0123456789abcdef", "x" * 3000, "%2E%2E", "*", "c-1%2F..%2F.."])
def test_unknown_command_reply(admin: Fleet, device: str, command_id: str) -> None:
    words = () if "%2F" in command_id else ("no reply",)  # a decoded '/' matches no route
    rejected(admin.http.get(f"{API}/devices/{device}/commands/{command_id}"), 404, *words)


@pytest.mark.parametrize(("path", "params", "words"), [
    ("/devices", {"limit": 0}, ("limit",)),
    ("/devices", {"limit": 5001}, ("limit",)),
    ("/devices", {"limit": "many"}, ("limit",)),
    ("/devices", {"online": "maybe"}, ("online",)),
    ("/devices", {"q": "x" * 101}, ("q",)),
    ("/devices", {"area": "x" * 49}, ("area",)),
    ("/devices/{device}/events", {"type": "x" * 49}, ("type",)),
    ("/devices/{device}/events", {"limit": -1}, ("limit",)),
    ("/audit", {"limit": 0}, ("limit",)),
    ("/audit", {"limit": 1001}, ("limit",)),
    ("/audit", {"before_id": 0}, ("before_id",)),
    ("/audit", {"before_id": "latest"}, ("before_id",)),
], ids=lambda value: str(value)[:20])
def test_bad_query_parameters(admin: Fleet, device: str, path: str, params: dict[str, Any],
                              words: tuple[str, ...]) -> None:
    rejected(admin.http.get(API + path.format(device=device), params=params), 422, *words)


def test_search_text_is_not_a_pattern(admin: Fleet, device: str) -> None:
    """'%' and '_' in the search text are matched literally or at least harmlessly."""
    for q in ("%", "_", "%_%", "'; DROP TABLE devices; --", "\\"):
        response = admin.http.get(f"{API}/devices", params={"q": q})
        assert response.status_code == 200, response.text
    assert admin.device(device)["id"] == device


# --------------------------------------------------------------------------------------------- enrolment


def _public_key() -> str:
    return KeyPair.generate().public_text


def unknown_code() -> dict[str, str]:
    return {"code": "ZZZZ-ZZZZ-ZZZZ", "public_key": _public_key()}


def _b64(n: int) -> str:
    return base64.urlsafe_b64encode(b"k" * n).decode()


ENROL_SCHEMA_CASES: list[tuple[str, bytes | dict[str, Any], tuple[str, ...]]] = [
    ("invalid json", b'{"code": ', ("json",)),
    ("not an object", b'["ABCD-EFGH-JKLM"]', ("dictionary",)),
    ("empty object", {}, ("code", "public_key", "required")),
    ("missing code", {"public_key": "A" * 43}, ("code", "required")),
    ("missing public key", {"code": "ABCD-EFGH-JKLM"}, ("public_key", "required")),
    ("code too short", {"code": "abc", "public_key": "A" * 43}, ("code",)),
    ("code too long", {"code": "C" * 41, "public_key": "A" * 43}, ("code",)),
    ("code a number", {"code": 12345678, "public_key": "A" * 43}, ("code",)),
    ("public key too short", {"code": "ABCD-EFGH-JKLM", "public_key": "abc"}, ("public_key",)),
    ("public key 10 KB", {"code": "ABCD-EFGH-JKLM", "public_key": "A" * 10240}, ("public_key",)),
    ("unknown field", {"code": "ABCD-EFGH-JKLM", "public_key": "A" * 43, "device_id": "x"}, ("device_id",)),
]


@pytest.mark.parametrize(("body", "words"), [(b, w) for _, b, w in ENROL_SCHEMA_CASES],
                         ids=[c[0] for c in ENROL_SCHEMA_CASES])
def test_enrol_rejects_malformed_requests(
    admin: Fleet, anon: httpx.Client, enrol_failures_cleared: redis.Redis, body: bytes | dict[str, Any],
    words: tuple[str, ...],
) -> None:
    before = snapshot(admin)
    if isinstance(body, bytes):
        response = raw(anon, "POST", f"{API}/enroll", body)
    else:
        response = anon.post(f"{API}/enroll", json=body)
    rejected(response, 422, *words)
    assert snapshot(admin) == before


@pytest.mark.parametrize("public_key", ["!" * 43, "A" * 40 + "@@@", _b64(31), _b64(33), "=" * 44],
                         ids=["not base64", "bad characters", "31 bytes", "33 bytes", "only padding"])
def test_enrol_rejects_bad_public_key_without_spending_the_code(
    admin: Fleet, anon: httpx.Client, enrol_failures_cleared: redis.Redis, public_key: str
) -> None:
    device_id, code = admin.register("thon-b")
    try:
        before = snapshot(admin)
        response = anon.post(f"{API}/enroll", json={"code": code, "public_key": public_key})
        rejected(response, 422, "public_key", "ed25519")
        assert snapshot(admin) == before
        assert admin.device(device_id)["enrolled"] is False
        answer = anon.post(f"{API}/enroll", json={"code": code, "public_key": _public_key()})
        assert answer.status_code == 200, answer.text  # the code still works
        assert answer.json()["device_id"] == device_id
    finally:
        admin.http.delete(f"{API}/devices/{device_id}")


@pytest.mark.parametrize("code", ["ABCD-EFGH-JKLM", "abcd", "' OR 1=1 --", "%%%%", "../../../../etc/passwd",
                                  "ÂBCD-ĐFGH"])
def test_enrol_unknown_code(admin: Fleet, anon: httpx.Client, enrol_failures_cleared: redis.Redis,
                            code: str) -> None:
    before = snapshot(admin)
    response = anon.post(f"{API}/enroll", json={"code": code, "public_key": _public_key()})
    rejected(response, 403, "claim code is not valid")
    assert snapshot(admin) == before


def test_enrol_failures_block_the_address_after_twenty(
    admin: Fleet, anon: httpx.Client, enrol_failures_cleared: redis.Redis
) -> None:
    """Last in the file: it blocks 127.0.0.1 for ten minutes until the fixture clears the counter."""
    device_id, code = admin.register("thon-b")
    try:
        for _ in range(20):
            response = anon.post(f"{API}/enroll", json=unknown_code())
            rejected(response, 403, "claim code is not valid")
        response = anon.post(f"{API}/enroll", json=unknown_code())
        rejected(response, 429, "too many failed enrolments")
        # even a good code waits, and is not spent by the refusal
        rejected(anon.post(f"{API}/enroll", json={"code": code, "public_key": _public_key()}), 429,
                 "too many failed enrolments")
        assert admin.device(device_id)["enrolled"] is False
        enrol_failures_cleared.delete(ENROLL_FAILURES)
        answer = anon.post(f"{API}/enroll", json={"code": code, "public_key": _public_key()})
        assert answer.status_code == 200, answer.text
    finally:
        enrol_failures_cleared.delete(ENROLL_FAILURES)
        admin.http.delete(f"{API}/devices/{device_id}")


@pytest.mark.parametrize("zone", ["../../etc/passwd", "Mars/Olympus", "", "Asia/Ho_Chi_Minh\n"])
def test_create_area_unknown_time_zone(admin: Fleet, zone: str) -> None:
    before = snapshot(admin)
    rejected(admin.http.post(f"{API}/areas", json={**VILLAGE, "timezone": zone}), 422, "timezone")
    assert snapshot(admin) == before
