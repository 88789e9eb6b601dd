"""The trust set nats-init writes: each folder holds only what its reader needs."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from controller.broker_accounts import nats_jwt
from controller.broker_accounts.nats import device_client_id, device_login_jwt
from controller.broker_accounts.nats_trust import ControllerTrust, make_trust

pytestmark = pytest.mark.unit


def test_folders_hold_what_their_reader_needs(tmp_path: Path) -> None:
    make_trust(tmp_path, "loalang-controller")
    assert sorted(p.name for p in (tmp_path / "offline").iterdir()) == [
        "account.seed", "operator.seed", "system-account.seed"]
    controller_files = sorted(p.name for p in (tmp_path / "controller").iterdir())
    assert controller_files == ["account-signing.seed", "controller.jwt", "operator-signing.seed",
                                "system.creds", "trust.json"]
    for name in ("account-signing.seed", "operator-signing.seed", "system.creds", "controller.jwt"):
        assert stat.S_IMODE((tmp_path / "controller" / name).stat().st_mode) == 0o600
    server = (tmp_path / "server" / "trust.conf").read_text()
    assert not re.search(r"\bS[OAU][A-Z2-7]{56}\b", server), "a seed in the nodes' file"
    with pytest.raises(FileExistsError):
        make_trust(tmp_path, "loalang-controller")


def test_the_controller_signs_what_the_server_trusts(tmp_path: Path) -> None:
    make_trust(tmp_path, "loalang-controller")
    trust = ControllerTrust.load(tmp_path / "controller")
    server = (tmp_path / "server" / "trust.conf").read_text()
    operator_jwt = json.loads(server.split("operator: ", 1)[1].splitlines()[0])
    operator = nats_jwt.decode_claims(operator_jwt, {trust.operator_public})
    assert nats_jwt.public_key(trust.operator_signing_seed) in operator["nats"]["signing_keys"]
    account = nats_jwt.decode_claims(trust.account_jwt({}), trust.trusted_account_issuers())
    assert nats_jwt.public_key(trust.account_signing_seed) in account["nats"]["signing_keys"]
    login = nats_jwt.decode_claims(device_login_jwt(trust, "d1", ("vn",), 1), {
        nats_jwt.public_key(trust.account_signing_seed)})
    assert login["nats"]["issuer_account"] == trust.account_public
    controller = (tmp_path / "controller" / "controller.jwt").read_text().strip()
    assert nats_jwt.decode_claims(controller, {nats_jwt.public_key(trust.account_signing_seed)})["nats"][
        "pub"] == {"allow": ["loa.v1", "loa.v1.>"]}


def test_a_device_client_id_is_its_own_and_not_guessable_from_its_id(tmp_path: Path) -> None:
    make_trust(tmp_path / "a", "c")
    make_trust(tmp_path / "b", "c")
    first, second = (ControllerTrust.load(tmp_path / name / "controller") for name in ("a", "b"))
    assert device_client_id(first, "d1") == device_client_id(first, "d1")
    assert device_client_id(first, "d1").startswith("dev-d1-")
    assert device_client_id(first, "d1") != device_client_id(second, "d1")
    assert len(device_client_id(first, "x" * 48)) <= 64
