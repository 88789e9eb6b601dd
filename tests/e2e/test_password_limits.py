"""Wrong passwords are limited per user name and address wherever a password is checked (logins,
emergency confirmations, password changes), atomically, and checked off the event loop: a flood of
them leaves the rest of the API answering. How fast it answers meanwhile is measured by
benchmarks/login_flood.py (docs/benchmarks.md), not asserted here."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from loalang_stack.services import ControllerProcess
from tests.testkit import (
    Fleet,
    Stack,
    new_commune,
    probe_health_during,
    upload_media,
    user_client,
    write_steps_wav,
    wrong_login,
)

pytestmark = pytest.mark.e2e

API = "/api/v1"
LIMIT = 10  # wrong passwords per user name and address in 5 minutes
FLOOD = 300
ADDRESS_KEY = "loa:login-from:127.0.0.1"


@pytest.fixture
def address_count_kept(stack: Stack) -> Iterator[None]:
    """These tests fail passwords on purpose: the address's count is put back as it was afterwards."""
    client = redis.Redis(port=stack.redis_port)
    before = client.get(ADDRESS_KEY)
    yield
    if before is None:
        client.delete(ADDRESS_KEY)
    else:
        client.set(ADDRESS_KEY, before, keepttl=True)
    client.close()


def too_many(response: httpx.Response) -> None:
    """A 429 with the stable code and a Retry-After within the window."""
    assert response.status_code == 429, f"{response.status_code}: {response.text[:300]}"
    assert response.json()["code"] == "too_many_password_attempts", response.text
    assert 0 < int(response.headers["Retry-After"]) <= 300, response.headers


async def flood(url: str, username: str) -> list[httpx.Response]:
    """FLOOD wrong logins for one user name, all at once."""
    return list(await asyncio.gather(*(wrong_login(url, username, n) for n in range(FLOOD))))


def test_a_flood_of_wrong_logins_is_limited_and_the_api_keeps_answering(
        fleet: Fleet, controller: ControllerProcess, address_count_kept: None) -> None:
    _, username = user_client(fleet, "operator", "xa-mot")
    answers: list[httpx.Response] = []
    flooding = threading.Thread(target=lambda: answers.extend(asyncio.run(flood(controller.url, username))))
    health_s, health = probe_health_during(controller.url, flooding)
    statuses = Counter(answer.status_code for answer in answers)
    p99 = sorted(health_s)[int(0.99 * (len(health_s) - 1))]
    print(f"{FLOOD} wrong logins: {dict(statuses)}; /healthz p99 {p99 * 1000:.0f} ms, "
          f"max {max(health_s) * 1000:.0f} ms over {len(health_s)} probes, statuses {dict(health)}")
    assert statuses[401] <= LIMIT and statuses[401] + statuses[429] == FLOOD, statuses
    too_many(next(answer for answer in answers if answer.status_code == 429))
    assert set(health) == {200}, f"/healthz answered {dict(health)} while the logins were checked"


def test_wrong_emergency_confirmations_are_limited_like_logins(
        fleet: Fleet, tmp_path: Path, address_count_kept: None) -> None:
    commune_id, _ = new_commune(fleet, villages=1)
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "bao.wav", [1000.0]))
    operator, _ = user_client(fleet, "operator", commune_id)
    alarm = {"level": "emergency", "media_sha256": sha, "area_ids": [commune_id], "confirm_password": "doan"}
    with operator:
        for _ in range(LIMIT):
            wrong = operator.post(f"{API}/broadcasts", json=alarm)
            assert wrong.status_code == 403 and wrong.json()["code"] == "confirmation_wrong", wrong.text
        too_many(operator.post(f"{API}/broadcasts", json=alarm))


def test_wrong_current_passwords_are_limited_like_logins(fleet: Fleet, address_count_kept: None) -> None:
    user, _ = user_client(fleet, "operator", "xa-mot")
    change = {"current_password": "doan-thu", "new_password": secrets.token_hex(12)}
    with user:
        for _ in range(LIMIT):
            assert user.post(f"{API}/users/me/password", json=change).status_code == 403
        too_many(user.post(f"{API}/users/me/password", json=change))
