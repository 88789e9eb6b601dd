"""Ed25519 key pairs, key ids and root-signed certificates."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey

from loalang_protocol.canonical import canonical_json
from loalang_protocol.keys import (
    CERT_DOMAIN,
    PURPOSE_CONTROL,
    PURPOSE_STREAM,
    CertificateError,
    KeyPair,
    b64decode,
    b64encode,
    check_certificate,
    issue_certificate,
    key_id,
    public_from_text,
    verify_raw,
)

pytestmark = pytest.mark.unit

NOW = 1_700_000_000.0
NOW_MS = int(NOW * 1000)


@pytest.fixture(scope="module")
def root() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="module")
def signer() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture
def cert(root: KeyPair, signer: KeyPair) -> dict[str, Any]:
    return issue_certificate(root, signer.public_bytes, PURPOSE_CONTROL, 3600, now=NOW)


def _resign(root: KeyPair, body: dict[str, Any]) -> dict[str, Any]:
    """Sign an arbitrary certificate body with root (to build valid-signature oddities)."""
    body = {k: v for k, v in body.items() if k != "sig"}
    return {**body, "sig": b64encode(root.sign(CERT_DOMAIN + canonical_json(body)))}


# --- base64, key ids, raw keys ------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\x00", b"ab", b"abc", bytes(range(256)), b"\xff" * 64])
def test_b64_round_trip_without_padding(data: bytes) -> None:
    text = b64encode(data)
    assert "=" not in text
    assert "+" not in text and "/" not in text
    assert b64decode(text) == data


@pytest.mark.parametrize("bad", [None, 5, b"AAAA", "A", "é" * 4, "A" * 4097])
def test_b64decode_rejects_bad_input_with_value_error(bad: Any) -> None:
    with pytest.raises(ValueError):
        b64decode(bad)


def test_key_id_is_16_hex_digits_of_sha256(signer: KeyPair) -> None:
    kid = key_id(signer.public_bytes)
    assert kid == hashlib.sha256(signer.public_bytes).hexdigest()[:16]
    assert len(kid) == 16 and set(kid) <= set("0123456789abcdef"), "lower-case hex"
    assert signer.kid == kid


def test_key_ids_differ_between_keys(root: KeyPair, signer: KeyPair) -> None:
    assert root.kid != signer.kid
    assert len({KeyPair.generate().kid for _ in range(20)}) == 20


def test_public_text_round_trip(signer: KeyPair) -> None:
    assert len(signer.public_bytes) == 32
    public = public_from_text(signer.public_text)
    signature = signer.sign(b"hello")
    assert len(signature) == 64
    assert verify_raw(public, signature, b"hello")
    assert not verify_raw(public, signature, b"hellO")
    assert not verify_raw(public, signature[:-1] + bytes([signature[-1] ^ 1]), b"hello")
    assert not verify_raw(public, b"", b"hello")
    assert not verify_raw(public, b"\x00" * 10, b"hello")


@pytest.mark.parametrize("text", [b64encode(b"\x01" * 31), b64encode(b"\x01" * 33), "", "é"])
def test_public_from_text_rejects_wrong_lengths(text: str) -> None:
    with pytest.raises(ValueError):
        public_from_text(text)


def test_signature_of_another_key_does_not_verify(root: KeyPair, signer: KeyPair) -> None:
    assert not verify_raw(public_from_text(root.public_text), signer.sign(b"x"), b"x")


# --- save / load -------------------------------------------------------------------------


def test_save_load_round_trip_with_owner_only_mode(tmp_path: Path, signer: KeyPair) -> None:
    path = tmp_path / "keys" / "nested" / "signing.pem"
    signer.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = KeyPair.load(path)
    assert loaded.public_bytes == signer.public_bytes
    assert loaded.kid == signer.kid
    assert verify_raw(public_from_text(signer.public_text), loaded.sign(b"m"), b"m")
    assert [p.name for p in path.parent.iterdir()] == ["signing.pem"]  # no temporary file left


def test_save_ignores_permissive_umask_and_replaces_old_file(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    path.write_text("old, world readable")
    path.chmod(0o644)
    old_umask = os.umask(0)
    try:
        first = KeyPair.generate()
        first.save(path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KeyPair.load(path).kid == first.kid
    second = KeyPair.generate()
    second.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KeyPair.load(path).kid == second.kid


def test_load_rejects_other_key_types(tmp_path: Path) -> None:
    path = tmp_path / "ed448.pem"
    path.write_bytes(
        Ed448PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ValueError, match="Ed25519"):
        KeyPair.load(path)


def test_load_rejects_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pem"
    path.write_bytes(b"not a key")
    with pytest.raises(ValueError):
        KeyPair.load(path)


# --- certificates -------------------------------------------------------------------------


def test_issue_certificate_fields(root: KeyPair, signer: KeyPair, cert: dict[str, Any]) -> None:
    assert set(cert) == {"kid", "pub", "purpose", "nbf", "exp", "root", "sig"}
    assert cert["kid"] == signer.kid
    assert b64decode(cert["pub"]) == signer.public_bytes
    assert cert["purpose"] == PURPOSE_CONTROL
    assert cert["root"] == root.kid
    assert cert["nbf"] == NOW_MS - 300_000
    assert cert["exp"] == NOW_MS + 3_600_000


def test_valid_certificate_returns_the_subject_key(
    root: KeyPair, signer: KeyPair, cert: dict[str, Any]
) -> None:
    public = check_certificate(cert, root.private.public_key(), PURPOSE_CONTROL, NOW_MS)
    assert verify_raw(public, signer.sign(b"data"), b"data")


def test_certificate_survives_json_round_trip(root: KeyPair, cert: dict[str, Any]) -> None:
    import json

    again = json.loads(canonical_json(cert))
    check_certificate(again, root.private.public_key(), PURPOSE_CONTROL, NOW_MS)


def test_stream_certificate(root: KeyPair, signer: KeyPair) -> None:
    cert = issue_certificate(root, signer.public_bytes, PURPOSE_STREAM, 60, now=NOW)
    check_certificate(cert, root.private.public_key(), PURPOSE_STREAM, NOW_MS)
    with pytest.raises(CertificateError, match="'stream', not 'control'"):
        check_certificate(cert, root.private.public_key(), PURPOSE_CONTROL, NOW_MS)


def test_wrong_purpose(root: KeyPair, cert: dict[str, Any]) -> None:
    with pytest.raises(CertificateError, match="'control', not 'stream'"):
        check_certificate(cert, root.private.public_key(), PURPOSE_STREAM, NOW_MS)


def test_wrong_root(cert: dict[str, Any]) -> None:
    other_root = KeyPair.generate()
    with pytest.raises(CertificateError, match="not signed by the root"):
        check_certificate(cert, other_root.private.public_key(), PURPOSE_CONTROL, NOW_MS)


def test_self_made_certificate_by_other_root_is_refused(root: KeyPair, signer: KeyPair) -> None:
    rogue = KeyPair.generate()
    fake = issue_certificate(rogue, signer.public_bytes, PURPOSE_CONTROL, 3600, now=NOW)
    fake["root"] = root.kid  # claiming the real root does not help
    with pytest.raises(CertificateError):
        check_certificate(fake, root.private.public_key(), PURPOSE_CONTROL, NOW_MS)


def test_validity_window_edges(root: KeyPair, cert: dict[str, Any]) -> None:
    root_public = root.private.public_key()
    check_certificate(cert, root_public, PURPOSE_CONTROL, cert["nbf"])  # nbf is inclusive
    check_certificate(cert, root_public, PURPOSE_CONTROL, cert["exp"] - 1)
    # five minutes of clock tolerance before issue
    check_certificate(cert, root_public, PURPOSE_CONTROL, NOW_MS - 299_000)


def test_expired(root: KeyPair, cert: dict[str, Any]) -> None:
    for now in (cert["exp"], cert["exp"] + 1, NOW_MS + 10 * 3_600_000):
        with pytest.raises(CertificateError, match="validity"):
            check_certificate(cert, root.private.public_key(), PURPOSE_CONTROL, now)


def test_not_yet_valid(root: KeyPair, cert: dict[str, Any]) -> None:
    for now in (cert["nbf"] - 1, NOW_MS - 3_600_000, 0):
        with pytest.raises(CertificateError, match="validity"):
            check_certificate(cert, root.private.public_key(), PURPOSE_CONTROL, now)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("purpose", PURPOSE_STREAM),
        ("exp", NOW_MS + 10**12),
        ("nbf", 0),
        ("root", "0" * 16),
        ("kid", "0" * 16),
    ],
)
def test_tampered_fields_break_the_signature(
    root: KeyPair, cert: dict[str, Any], field: str, value: Any
) -> None:
    tampered = {**cert, field: value}
    with pytest.raises(CertificateError, match="not signed by the root"):
        check_certificate(tampered, root.private.public_key(), PURPOSE_STREAM, NOW_MS)


def test_swapped_public_key_breaks_the_signature(root: KeyPair, cert: dict[str, Any]) -> None:
    attacker = KeyPair.generate()
    tampered = {**cert, "pub": attacker.public_text, "kid": attacker.kid}
    with pytest.raises(CertificateError, match="not signed by the root"):
        check_certificate(tampered, root.private.public_key(), PURPOSE_CONTROL, NOW_MS)


def test_tampered_signature(root: KeyPair, cert: dict[str, Any]) -> None:
    raw = bytearray(b64decode(cert["sig"]))
    raw[0] ^= 0x01
    with pytest.raises(CertificateError, match="not signed by the root"):
        check_certificate(
            {**cert, "sig": b64encode(bytes(raw))}, root.private.public_key(), PURPOSE_CONTROL, NOW_MS
        )


def test_kid_mismatch_even_when_root_signed_it(root: KeyPair, cert: dict[str, Any]) -> None:
    odd = _resign(root, {**cert, "kid": "0123456789abcdef"})
    with pytest.raises(CertificateError, match="key id does not match"):
        check_certificate(odd, root.private.public_key(), PURPOSE_CONTROL, NOW_MS)


@pytest.mark.parametrize("missing", ["kid", "pub", "purpose", "nbf", "exp", "root", "sig"])
def test_missing_field(root: KeyPair, cert: dict[str, Any], missing: str) -> None:
    broken = {k: v for k, v in cert.items() if k != missing}
    with pytest.raises(CertificateError, match="fields are wrong"):
        check_certificate(broken, root.private.public_key(), PURPOSE_CONTROL, NOW_MS)


def test_extra_field(root: KeyPair, cert: dict[str, Any]) -> None:
    with pytest.raises(CertificateError, match="fields are wrong"):
        check_certificate({**cert, "extra": 1}, root.private.public_key(), PURPOSE_CONTROL, NOW_MS)


@pytest.mark.parametrize("value", [None, [], "cert", 5, b"{}"])
def test_not_a_dict(root: KeyPair, value: Any) -> None:
    with pytest.raises(CertificateError):
        check_certificate(value, root.private.public_key(), PURPOSE_CONTROL, NOW_MS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kid", 5),
        ("pub", None),
        ("purpose", ["control"]),
        ("root", 1.0),
        ("sig", b"sig"),
        ("nbf", "0"),
        ("exp", "99999999999999"),
        ("exp", 1.7e12),
        ("nbf", None),
        ("nbf", True),
        ("exp", True),
        ("nbf", False),
    ],
)
def test_wrong_field_types(root: KeyPair, cert: dict[str, Any], field: str, value: Any) -> None:
    broken = _resign(root, {**cert, field: value}) if field != "sig" else {**cert, field: value}
    with pytest.raises(CertificateError, match="wrong type"):
        check_certificate(broken, root.private.public_key(), PURPOSE_CONTROL, NOW_MS)


@pytest.mark.parametrize("bad", ["é", "A", "A" * 5000])
def test_bad_base64_signature(root: KeyPair, cert: dict[str, Any], bad: str) -> None:
    with pytest.raises(CertificateError):
        check_certificate({**cert, "sig": bad}, root.private.public_key(), PURPOSE_CONTROL, NOW_MS)


@pytest.mark.parametrize("bad", ["é", "A", b64encode(b"\x01" * 31), "A" * 5000])
def test_bad_base64_public_key_even_when_root_signed_it(
    root: KeyPair, cert: dict[str, Any], bad: str
) -> None:
    broken = _resign(root, {**cert, "pub": bad})
    with pytest.raises(CertificateError, match="malformed"):
        check_certificate(broken, root.private.public_key(), PURPOSE_CONTROL, NOW_MS)
