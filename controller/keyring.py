"""The controller's keys on disk: the root's public half, the online signing key and its certificate.

The root private key belongs offline. `radio-controller keys init` makes a root and a first
signing key; `radio-controller keys certify` certifies a new signing key with a root key
file, which is how a signing key is rotated without touching any device.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loalang_protocol.envelope import now_ms
from loalang_protocol.keys import (
    PURPOSE_CONTROL,
    KeyPair,
    check_certificate,
    issue_certificate,
    public_from_text,
)

ROOT_KEY = "root.key"
ROOT_PUBLIC = "root.pub"
SIGNING_KEY = "signing.key"
SIGNING_CERT = "signing.cert.json"
KEYS_DIR = "keys"  # the controller's key folder, inside its data folder


class KeyringError(RuntimeError):
    """The keys on disk are missing or do not fit together."""


@dataclass(frozen=True)
class Keyring:
    """What the running controller needs: the root public key, a signing key and its certificate."""

    root_public: str
    signing: KeyPair
    certificate: dict[str, Any]

    @classmethod
    def load(cls, folder: Path) -> Keyring:
        """Read and cross-check the keys in folder."""
        try:
            root_public = (folder / ROOT_PUBLIC).read_text().strip()
            signing = KeyPair.load(folder / SIGNING_KEY)
            certificate = json.loads((folder / SIGNING_CERT).read_text())
        except FileNotFoundError as exc:
            raise KeyringError(
                f"{exc.filename} is missing; run `radio-controller keys init --dir {folder}`"
            ) from None
        try:
            check_certificate(certificate, public_from_text(root_public), PURPOSE_CONTROL, now_ms())
        except ValueError as exc:
            raise KeyringError(f"the signing certificate in {folder} is not usable: {exc}") from None
        if certificate["kid"] != signing.kid:
            raise KeyringError(f"the signing certificate in {folder} is for another key")
        return cls(root_public, signing, certificate)


def init_keys(folder: Path, cert_days: int, keep_root: bool = True) -> Path:
    """Make a root key and a certified signing key in folder; returns the root key's path."""
    folder.mkdir(parents=True, exist_ok=True)
    root_path = folder / ROOT_KEY
    if (folder / ROOT_PUBLIC).exists():
        raise KeyringError(f"{folder} already holds a root key; use `keys certify` to rotate")
    root = KeyPair.generate()
    root.save(root_path)
    (folder / ROOT_PUBLIC).write_text(root.public_text + "\n")
    certify_new_signing_key(folder, root_path, cert_days)
    if not keep_root:
        root_path.unlink()
    return root_path


def certify_new_signing_key(folder: Path, root_key_path: Path, cert_days: int) -> str:
    """Make a new signing key in folder, certified by the root key at root_key_path; returns its id."""
    root = KeyPair.load(root_key_path)
    expected = (folder / ROOT_PUBLIC).read_text().strip()
    if root.public_text != expected:
        raise KeyringError(f"{root_key_path} is not the root whose public key is in {folder}")
    signing = KeyPair.generate()
    cert = issue_certificate(root, signing.public_bytes, PURPOSE_CONTROL, cert_days * 86400)
    signing.save(folder / SIGNING_KEY)
    (folder / SIGNING_CERT).write_text(json.dumps(cert, indent=1))
    return signing.kid
