"""The controller's keys on disk: the root's public half, the online signing key and its certificate.

The root private key belongs offline. `radio-controller keys init` makes a root and a first
signing key; `radio-controller keys certify` certifies a new signing key with a root key
file, which is how a signing key is rotated without touching any device; `radio-controller keys
revoke` adds a key id to the root-signed list of revoked keys (`revoked.json`), which the
controller publishes to every device.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loalang_protocol.envelope import now_ms
from loalang_protocol.files import write_atomic
from loalang_protocol.keys import (
    PURPOSE_CONTROL,
    PURPOSE_RELEASE,
    KeyPair,
    b64decode,
    check_certificate,
    issue_certificate,
    key_id,
    public_from_text,
)
from loalang_protocol.revocation import (
    KID,
    RevocationError,
    RevocationList,
    check_revocation_list,
    issue_revocation_list,
)

ROOT_KEY = "root.key"
ROOT_PUBLIC = "root.pub"
SIGNING_KEY = "signing.key"
SIGNING_CERT = "signing.cert.json"
KEYS_DIR = "keys"  # the controller's key folder, inside its data folder
REVOKED_LIST = "revoked.json"
RELEASE_KEY = "release.key"  # kept where releases are built, never on the controller
RELEASE_CERT = "release.cert.json"


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
                f"{exc.filename} is missing: the controller needs root.pub, signing.key and "
                f"signing.cert.json in {folder}, made offline by the key ceremony and installed there "
                "(docs/operations.md, \"Signing keys: the key ceremony\"); the root private key stays offline"
            ) from None
        try:
            check_certificate(certificate, public_from_text(root_public), PURPOSE_CONTROL, now_ms())
        except ValueError as exc:
            raise KeyringError(f"the signing certificate in {folder} is not usable: {exc}") from None
        if certificate["kid"] != signing.kid:
            raise KeyringError(f"the signing certificate in {folder} is for another key")
        held = read_revocations(folder, root_public)
        if held is not None and signing.kid in held.revoked:
            raise KeyringError(f"the signing key {signing.kid} in {folder} is revoked; certify a new one")
        return cls(root_public, signing, certificate)

    @property
    def root_kid(self) -> str:
        """The key id of the root public key."""
        return key_id(b64decode(self.root_public))


def init_keys(folder: Path, cert_days: int, keep_root: bool = True) -> Path:
    """Make a root key and a certified signing key in folder; returns the root key's path."""
    folder.mkdir(parents=True, exist_ok=True)
    root_path = folder / ROOT_KEY
    if (folder / ROOT_PUBLIC).exists():
        raise KeyringError(f"{folder} already holds a root key; use `keys certify` to rotate")
    root = KeyPair.generate()
    root.save(root_path)
    write_atomic(folder / ROOT_PUBLIC, (root.public_text + "\n").encode(), mode=0o644)
    certify_new_signing_key(folder, root_path, cert_days)
    if not keep_root:
        root_path.unlink()
    return root_path


def _root_of(folder: Path, root_key_path: Path) -> KeyPair:
    """The root private key at root_key_path, when it is the root whose public half is in folder."""
    root = KeyPair.load(root_key_path)
    expected = (folder / ROOT_PUBLIC).read_text().strip()
    if root.public_text != expected:
        raise KeyringError(f"{root_key_path} is not the root whose public key is in {folder}")
    return root


def certify_new_signing_key(folder: Path, root_key_path: Path, cert_days: int) -> str:
    """Make a new signing key in folder, certified by the root key at root_key_path; returns its id."""
    root = _root_of(folder, root_key_path)
    signing = KeyPair.generate()
    cert = issue_certificate(root, signing.public_bytes, PURPOSE_CONTROL, cert_days * 86400)
    signing.save(folder / SIGNING_KEY)
    write_atomic(folder / SIGNING_CERT, json.dumps(cert, indent=1).encode(), mode=0o644)
    return signing.kid


def certify_release_key(folder: Path, root_key_path: Path, cert_days: int) -> str:
    """Make a release key in folder (release.key, release.cert.json), certified by the root key at
    root_key_path for releases only; returns its id. It signs agent releases where they are built."""
    root = KeyPair.load(root_key_path)
    release = KeyPair.generate()
    cert = issue_certificate(root, release.public_bytes, PURPOSE_RELEASE, cert_days * 86400)
    release.save(folder / RELEASE_KEY)
    write_atomic(folder / RELEASE_CERT, json.dumps(cert, indent=1).encode(), mode=0o644)
    return release.kid


def read_revocations(folder: Path, root_public: str) -> RevocationList | None:
    """The revocation list kept in folder, checked against the root; None when there is none."""
    try:
        document = json.loads((folder / REVOKED_LIST).read_bytes())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise KeyringError(f"{folder / REVOKED_LIST} is not JSON: {exc}") from None
    try:
        return check_revocation_list(document, public_from_text(root_public))
    except RevocationError as exc:
        raise KeyringError(f"{folder / REVOKED_LIST} cannot be trusted: {exc}") from None


def store_revocations(folder: Path, revocations: RevocationList) -> None:
    """Keep a checked revocation list in folder, so that a power cut leaves the old or the new one."""
    write_atomic(folder / REVOKED_LIST, json.dumps(revocations.document, indent=1).encode(), mode=0o644)


def revoke_key(folder: Path, root_key_path: Path, kid: str) -> RevocationList:
    """Add kid to the folder's revocation list, with the next serial, signed by the root key."""
    if not KID.fullmatch(kid):
        raise KeyringError(f"{kid!r} is not a key id (16 lowercase hex digits)")
    root = _root_of(folder, root_key_path)
    current = json.loads((folder / SIGNING_CERT).read_text())["kid"]
    if kid == current:
        raise KeyringError(f"{kid} is the key the signing certificate in {folder} is for; certify a new "
                           "signing key first (`keys certify`), then revoke the old one")
    held = read_revocations(folder, root.public_text)
    revoked = sorted((held.revoked if held else frozenset()) | {kid})
    document = issue_revocation_list(root, revoked, (held.serial if held else 0) + 1)
    checked = check_revocation_list(document, root.private.public_key())
    store_revocations(folder, checked)
    return checked
