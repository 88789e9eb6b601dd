"""Login limits that nobody can turn against the office: behind the reverse proxy each client is
counted under its own address (as only a trusted proxy may say), a flood of wrong logins keeps no
signed-in operator from confirming an emergency, and every lockout lasts minutes and is audited."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.testkit import (
    USER_PASSWORD,
    Fleet,
    Stack,
    new_commune,
    own_fleet,
    token_request,
    upload_media,
    user_client,
    write_steps_wav,
)

pytestmark = pytest.mark.e2e

API = "/api/v1"
LOGIN_LIMIT = 10  # wrong logins per user name and address in 5 minutes
ADDRESS_LIMIT = 100  # wrong logins per address, whatever the names
ATTACKER = "203.0.113.9"
OFFICE = "198.51.100.7"
LOCAL = "127.0.0.1"


@pytest.fixture
def counts_kept(stack: Stack) -> Iterator[redis.Redis]:
    """The login counts these tests fill on purpose are put back as they were afterwards."""
    client = redis.Redis(port=stack.redis_port)
    before = {key: client.get(key) for key in (f"loa:login-from:{LOCAL}",)}
    yield client
    for key in client.scan_iter("loa:login-from:*"):
        if key.decode() not in before:
            client.delete(key)
    for key, value in before.items():
        if value is None:
            client.delete(key)
        else:
            client.set(key, value, keepttl=True)
    client.close()


def flood(url: str, count: int, forwarded_for: str | None = None, username: str | None = None) -> list[int]:
    """count wrong logins (for new user names each unless one is given); their statuses."""
    return [token_request(url, username or f"doan-{secrets.token_hex(3)}", f"sai-{n}",
                          forwarded_for).status_code for n in range(count)]


def lockouts(fleet: Fleet, username: str) -> list[dict[str, object]]:
    """The audit log's lockout entries about username."""
    entries = fleet.http.get(f"{API}/audit", params={"limit": 200}).json()
    return [e for e in entries if e["action"] == "auth.lockout" and username in e["targets"]]


def test_behind_a_trusted_proxy_a_flood_locks_out_only_its_own_address(
        stack: Stack, tmp_path: Path, counts_kept: redis.Redis) -> None:
    with own_fleet(stack, tmp_path, LOALANG_TRUSTED_PROXIES=f"{LOCAL}/32") as fleet:
        _, operator = user_client(fleet, "operator", "xa-mot")
        statuses = flood(fleet.controller.url, ADDRESS_LIMIT + 5, forwarded_for=ATTACKER)
        assert statuses.count(429) >= 5 and set(statuses) == {401, 429}, statuses
        refused = token_request(fleet.controller.url, operator, USER_PASSWORD, forwarded_for=ATTACKER)
        assert refused.status_code == 429, "the flooding address itself stays locked out"
        # the operator comes through the same proxy from the office
        office = token_request(fleet.controller.url, operator, USER_PASSWORD,
                               forwarded_for=f"{OFFICE}, {LOCAL}")
        assert office.status_code == 200, office.text
        locked = [e["detail"] for e in fleet.http.get(f"{API}/audit", params={"limit": 200}).json()
                  if e["action"] == "auth.lockout"]
        assert any(d["address"] == ATTACKER and d["per"] == "address" for d in locked), locked


def test_a_client_cannot_choose_the_address_it_is_counted_under(
        fleet: Fleet, counts_kept: redis.Redis) -> None:
    """The session controller trusts no proxy: a forwarded address from anyone else is ignored."""
    _, operator = user_client(fleet, "operator", "xa-mot")
    url = fleet.controller.url
    statuses = [token_request(url, operator, f"sai-{n}", forwarded_for=f"192.0.2.{n + 1}").status_code
                for n in range(LOGIN_LIMIT + 1)]
    assert statuses == [401] * LOGIN_LIMIT + [429], statuses
    # the right password is refused too until the window ends: the count was the real address's
    assert token_request(url, operator, USER_PASSWORD, forwarded_for="192.0.2.200").status_code == 429


def test_a_login_flood_keeps_no_operator_from_confirming_an_emergency(
        fleet: Fleet, tmp_path: Path, counts_kept: redis.Redis) -> None:
    commune_id, _ = new_commune(fleet, villages=1)
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "bao.wav", [1000.0]))
    operator, username = user_client(fleet, "operator", commune_id)
    # someone guesses the operator's password from the office's own address, past every limit
    statuses = flood(fleet.controller.url, LOGIN_LIMIT + 5, username=username)
    assert statuses.count(429) == 5, statuses
    assert token_request(fleet.controller.url, username, USER_PASSWORD).status_code == 429
    alarm = {"level": "emergency", "media_sha256": sha, "area_ids": [commune_id],
             "confirm_password": USER_PASSWORD}
    with operator:
        confirmed = operator.post(f"{API}/broadcasts", json=alarm)
        assert confirmed.status_code == 201, confirmed.text
        operator.post(f"{API}/broadcasts/{confirmed.json()['id']}/stop").raise_for_status()
    [entry] = lockouts(fleet, username)
    assert entry["actor"] == "system" and entry["detail"]["address"] == LOCAL, entry
    assert 0 < int(entry["detail"]["seconds"]) <= 300, "a lockout lasts minutes, never for good"
