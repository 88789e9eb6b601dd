"""The key folder: revoking a signing key with the root, and a controller that will not sign with one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.keyring import (
    REVOKED_LIST,
    Keyring,
    KeyringError,
    certify_new_signing_key,
    init_keys,
    read_revocations,
    revoke_key,
)
from loalang_protocol.keys import KeyPair

pytestmark = pytest.mark.unit


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    init_keys(tmp_path / "keys", 30)
    return tmp_path / "keys"


def test_each_revocation_raises_the_serial_and_keeps_the_earlier_keys(folder: Path) -> None:
    first = Keyring.load(folder).signing.kid
    certify_new_signing_key(folder, folder / "root.key", 30)
    second = Keyring.load(folder).signing.kid
    certify_new_signing_key(folder, folder / "root.key", 30)
    revoke_key(folder, folder / "root.key", first)
    held = revoke_key(folder, folder / "root.key", second)
    assert held.serial == 2 and held.revoked == {first, second}
    assert read_revocations(folder, Keyring.load(folder).root_public) == held


def test_the_key_in_use_cannot_be_revoked(folder: Path) -> None:
    with pytest.raises(KeyringError, match="certify a new signing key first"):
        revoke_key(folder, folder / "root.key", Keyring.load(folder).signing.kid)
    assert not (folder / REVOKED_LIST).exists()


def test_only_the_root_key_revokes(folder: Path, tmp_path: Path) -> None:
    other = KeyPair.generate()
    other.save(tmp_path / "other.key")
    with pytest.raises(KeyringError, match="is not the root"):
        revoke_key(folder, tmp_path / "other.key", "0123456789abcdef")


@pytest.mark.parametrize("kid", ["", "0123", "0123456789ABCDEF", "../../etc/passwd"])
def test_a_key_id_is_sixteen_hex_digits(folder: Path, kid: str) -> None:
    with pytest.raises(KeyringError, match="not a key id"):
        revoke_key(folder, folder / "root.key", kid)


def test_the_controller_refuses_to_sign_with_a_revoked_key(folder: Path) -> None:
    """A signing key restored from an old backup after its revocation is not used."""
    old_key, old_cert = (folder / "signing.key").read_bytes(), (folder / "signing.cert.json").read_bytes()
    old_kid = Keyring.load(folder).signing.kid
    certify_new_signing_key(folder, folder / "root.key", 30)
    revoke_key(folder, folder / "root.key", old_kid)
    (folder / "signing.key").write_bytes(old_key)
    (folder / "signing.cert.json").write_bytes(old_cert)
    with pytest.raises(KeyringError, match="is revoked"):
        Keyring.load(folder)


def test_a_tampered_list_stops_the_controller(folder: Path) -> None:
    old_kid = Keyring.load(folder).signing.kid
    certify_new_signing_key(folder, folder / "root.key", 30)
    revoke_key(folder, folder / "root.key", old_kid)
    document = json.loads((folder / REVOKED_LIST).read_text())
    (folder / REVOKED_LIST).write_text(json.dumps({**document, "revoked": []}))
    with pytest.raises(KeyringError, match="cannot be trusted"):
        Keyring.load(folder)


def test_missing_keys_point_to_the_key_ceremony_never_to_making_a_root_on_the_controller(
        tmp_path: Path) -> None:
    with pytest.raises(KeyringError) as refused:
        Keyring.load(tmp_path / "keys")
    message = str(refused.value)
    assert "key ceremony" in message and "root.pub, signing.key and signing.cert.json" in message
    assert "keys init" not in message, "making keys on the controller would put the root key online"
