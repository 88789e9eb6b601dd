"""Ed25519 keys and the key hierarchy.

An offline root key certifies online signing keys. Every agent holds the root's public
half from enrolment, so a signing key can be rotated or revoked without visiting a pole.
A certificate is a small JSON object signed by the root.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .canonical import canonical_json
from .files import write_atomic

CERT_DOMAIN = b"loa-cert-v1\x00"
PURPOSE_CONTROL = "control"  # desired state, commands, acknowledgements, clock replies
PURPOSE_STREAM = "stream"  # audio chunks
PURPOSE_RELEASE = "release"  # agent releases (loalang_protocol/releases.py)


def b64encode(data: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Inverse of b64encode; raises ValueError on bad input."""
    if not isinstance(text, str) or len(text) > 4096:
        raise ValueError("not a base64 string")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public_key: bytes) -> str:
    """Short stable identifier of a public key: 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def public_from_text(text: str) -> Ed25519PublicKey:
    """Load a raw public key given as base64; raises ValueError when it is not one."""
    raw = b64decode(text)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_raw(public_key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    """True when signature is public_key's signature of data."""
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class KeyPair:
    """An Ed25519 private key with its raw public half and key id."""

    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> KeyPair:
        """Make a new random key pair."""
        return cls(Ed25519PrivateKey.generate())

    @property
    def public_bytes(self) -> bytes:
        """The 32 raw bytes of the public key."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def public_text(self) -> str:
        """The public key as base64."""
        return b64encode(self.public_bytes)

    @property
    def kid(self) -> str:
        """The key id of the public half."""
        return key_id(self.public_bytes)

    def sign(self, data: bytes) -> bytes:
        """Sign data (64-byte signature)."""
        return self.private.sign(data)

    def save(self, path: Path) -> None:
        """Write the private key as PEM, readable by the owner only."""
        pem = self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_atomic(path, pem, mode=0o600)

    @classmethod
    def load(cls, path: Path) -> KeyPair:
        """Read a private key written by save()."""
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return cls(key)


def issue_certificate(
    root: KeyPair,
    subject_public: bytes,
    purpose: str,
    valid_seconds: int,
    now: float | None = None,
) -> dict[str, Any]:
    """Certify subject_public for purpose with the root key, valid from now for valid_seconds."""
    start = int((time.time() if now is None else now) * 1000)
    body = {
        "kid": key_id(subject_public),
        "pub": b64encode(subject_public),
        "purpose": purpose,
        "nbf": start - 300_000,  # tolerate five minutes of clock difference
        "exp": start + valid_seconds * 1000,
        "root": root.kid,
    }
    return {**body, "sig": b64encode(root.sign(CERT_DOMAIN + canonical_json(body)))}


class CertificateError(ValueError):
    """A certificate is malformed, not signed by the root, expired or for another purpose."""


def check_certificate(
    cert: Any, root_public: Ed25519PublicKey, purpose: str, now_ms: int
) -> Ed25519PublicKey:
    """Return the certified public key, or raise CertificateError saying why not."""
    fields = {"kid": str, "pub": str, "purpose": str, "nbf": int, "exp": int, "root": str, "sig": str}
    if not isinstance(cert, dict) or set(cert) != set(fields):
        raise CertificateError("certificate fields are wrong")
    for name, kind in fields.items():
        if not isinstance(cert[name], kind) or isinstance(cert[name], bool):
            raise CertificateError(f"certificate field {name} has the wrong type")
    body = {k: v for k, v in cert.items() if k != "sig"}
    try:
        signature = b64decode(cert["sig"])
        subject = public_from_text(cert["pub"])
    except ValueError as exc:
        raise CertificateError(f"certificate is malformed: {exc}") from None
    if not verify_raw(root_public, signature, CERT_DOMAIN + canonical_json(body)):
        raise CertificateError("certificate is not signed by the root key")
    if key_id(b64decode(cert["pub"])) != cert["kid"]:
        raise CertificateError("certificate key id does not match its key")
    if cert["purpose"] != purpose:
        raise CertificateError(f"certificate is for {cert['purpose']!r}, not {purpose!r}")
    if not cert["nbf"] <= now_ms < cert["exp"]:
        raise CertificateError("certificate is outside its validity period")
    return subject
