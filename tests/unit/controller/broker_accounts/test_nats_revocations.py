"""The devices' account's revocation list: what a revocation covers, and that it stays bounded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.broker_accounts import nats_jwt
from controller.broker_accounts.nats import LOGIN_LIFETIME_S, device_login_jwt
from controller.broker_accounts.nats_revocations import revoked_up_to
from controller.broker_accounts.nats_trust import ControllerTrust

pytestmark = pytest.mark.unit

DAY = 86400
NOW = 1_800_000_000


def test_a_revocation_covers_every_login_issued_until_now() -> None:
    revocations, until = revoked_up_to({}, "UKEY", NOW, LOGIN_LIFETIME_S, for_good=False)
    assert until == NOW and revocations == {"UKEY": NOW}


def test_twice_in_one_second_the_second_covers_the_login_the_first_allowed() -> None:
    listed, _ = revoked_up_to({}, "UKEY", NOW, LOGIN_LIFETIME_S, for_good=False)
    _, until = revoked_up_to(listed, "UKEY", NOW, LOGIN_LIFETIME_S, for_good=False)
    assert until == NOW + 1, "the login issued after the first revocation (at NOW + 1) is revoked too"


def test_a_deleted_device_stays_revoked_and_enrolled_again_gets_a_login_that_works() -> None:
    deleted, until = revoked_up_to({}, "UKEY", NOW, LOGIN_LIFETIME_S, for_good=True)
    assert until >= NOW + LOGIN_LIFETIME_S, "a login signed for a renewal under way is revoked too"
    _, again = revoked_up_to(deleted, "UKEY", NOW + DAY, LOGIN_LIFETIME_S, for_good=False)
    assert again == NOW + DAY, "logins from before are revoked, a new one issued after works"


def test_the_list_keeps_only_what_a_login_lifetime_revoked() -> None:
    revocations: dict[str, int] = {}
    moves_a_day = 20  # a province's moves, re-enrolments and deletions
    for day in range(3 * LOGIN_LIFETIME_S // DAY):
        for move in range(moves_a_day):
            now = NOW + day * DAY + move
            revocations, _ = revoked_up_to(revocations, f"U{day}-{move}", now, LOGIN_LIFETIME_S, False)
    assert len(revocations) <= moves_a_day * (LOGIN_LIFETIME_S // DAY + 1)
    oldest_kept = min(revocations.values())
    assert oldest_kept >= now - LOGIN_LIFETIME_S, "every login an entry revoked has expired once it goes"


def test_a_device_login_expires_a_lifetime_after_it_was_issued() -> None:
    trust = _trust()
    token = device_login_jwt(trust, "loa-7", ("vn", "vn-hn"), NOW, lifetime_s=3600)
    body = json.loads(nats_jwt._unb64(token.split(".")[1]))
    assert body["iat"] == NOW and body["exp"] == NOW + 3600


def _trust() -> ControllerTrust:
    operator, signing, account = (nats_jwt.new_seed(kind) for kind in ("operator", "operator", "account"))
    account_signing = nats_jwt.new_seed("account")
    return ControllerTrust(Path("/nowhere"), nats_jwt.public_key(operator), signing,
                           nats_jwt.public_key(account), account_signing, nats_jwt.public_key(account))
