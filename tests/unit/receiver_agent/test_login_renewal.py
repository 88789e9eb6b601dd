"""When an agent renews a broker login that expires."""

from __future__ import annotations

import pytest

from controller.broker_accounts import nats_jwt
from receiver_agent.login_renewal import check_every_s, login_times, renewal_due_at

pytestmark = pytest.mark.unit

ISSUED = 1_800_000_000
LIFETIME = 90 * 86400


def _login(issued: int, expires: int | None) -> str:
    seed = nats_jwt.new_seed("account")
    return nats_jwt.encode({"sub": "UKEY", "nats": {"type": "user"}}, seed, issued, expires)


def test_a_jwt_login_gives_its_times_and_a_password_none() -> None:
    assert login_times(_login(ISSUED, ISSUED + LIFETIME)) == (ISSUED, ISSUED + LIFETIME)
    assert login_times(_login(ISSUED, None)) is None, "a login that never expires"
    for password in ("s3cret-password-of-mosquitto", "", None, "a.b.c", "x.e30.y"):
        assert login_times(password) is None


def test_each_device_renews_between_three_quarters_and_most_of_the_life() -> None:
    dues = [renewal_due_at(f"loa-{n}", ISSUED, ISSUED + LIFETIME) for n in range(500)]
    assert all(ISSUED + 0.75 * LIFETIME <= due <= ISSUED + 0.85 * LIFETIME for due in dues)
    spread_days = (max(dues) - min(dues)) / 86400
    assert spread_days > 8, "a fleet enrolled on one day asks over days, not at once"
    assert renewal_due_at("loa-7", ISSUED, ISSUED + LIFETIME) == dues[7], "the same point for a device"


def test_a_short_login_is_looked_at_often_and_a_long_one_hourly() -> None:
    assert check_every_s(ISSUED, ISSUED + LIFETIME) == 3600
    assert check_every_s(ISSUED, ISSUED + 100) == 2.0
