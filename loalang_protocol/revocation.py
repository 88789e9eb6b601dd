"""The list of revoked signing keys, signed by the root key alone.

Only the root may revoke: a stolen signing key must not be able to revoke its successor. A list
is a small JSON object, like a certificate, signed over its own domain::

    {"revoked": [kid, ...], "serial": n, "issued": ms, "root": root kid, "sig": base64url}

A list with a higher serial replaces one with a lower serial; one with a lower or equal serial than
the list held is not news.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .canonical import canonical_json
from .keys import KeyPair, b64decode, b64encode, key_id, verify_raw

REVOKE_DOMAIN = b"loa-revoke-v1\x00"
MAX_REVOKED = 1000  # a signing key lives for months: a thousand outlives any real deployment
MAX_SERIAL = 2**53 - 1  # exact in every JSON reader
KID = re.compile(r"[0-9a-f]{16}")
_FIELDS: dict[str, type] = {"revoked": list, "serial": int, "issued": int, "root": str, "sig": str}


class RevocationError(ValueError):
    """A revocation list is malformed (reason 'malformed') or not signed by the root ('not_root_signed')."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class RevocationList:
    """A checked list: the revoked key ids, its serial and the signed document itself."""

    revoked: frozenset[str]
    serial: int
    issued_ms: int
    document: dict[str, Any]


def root_kid(root_public: Ed25519PublicKey) -> str:
    """The key id of a root public key."""
    return key_id(root_public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def issue_revocation_list(root: KeyPair, revoked: list[str], serial: int,
                          now: float | None = None) -> dict[str, Any]:
    """Sign a list of revoked key ids with the root key."""
    body = {
        "revoked": sorted(set(revoked)),
        "serial": serial,
        "issued": int((time.time() if now is None else now) * 1000),
        "root": root.kid,
    }
    _check_fields(body)
    return {**body, "sig": b64encode(root.sign(REVOKE_DOMAIN + canonical_json(body)))}


def check_revocation_list(doc: Any, root_public: Ed25519PublicKey) -> RevocationList:
    """Return the checked list, or raise RevocationError saying why it cannot be trusted."""
    if not isinstance(doc, dict) or set(doc) != set(_FIELDS):
        raise RevocationError("malformed", "revocation list fields are wrong")
    body = {name: value for name, value in doc.items() if name != "sig"}
    _check_fields(body)
    if not isinstance(doc["sig"], str):
        raise RevocationError("malformed", "revocation list field sig is not a string")
    if doc["root"] != root_kid(root_public):
        raise RevocationError("not_root_signed", "revocation list names another root key")
    try:
        signature = b64decode(doc["sig"])
    except ValueError:
        raise RevocationError("malformed", "revocation list signature is not base64") from None
    if not verify_raw(root_public, signature, REVOKE_DOMAIN + canonical_json(body)):
        raise RevocationError("not_root_signed", "revocation list is not signed by the root key")
    return RevocationList(frozenset(doc["revoked"]), doc["serial"], doc["issued"], dict(doc))


def _check_fields(body: dict[str, Any]) -> None:
    for name, kind in _FIELDS.items():
        if name != "sig" and (not isinstance(body[name], kind) or isinstance(body[name], bool)):
            raise RevocationError("malformed", f"revocation list field {name} has the wrong type")
    if not 0 < body["serial"] <= MAX_SERIAL or not 0 <= body["issued"] <= MAX_SERIAL:
        raise RevocationError("malformed", "revocation list serial or issue time is out of range")
    revoked = body["revoked"]
    if len(revoked) > MAX_REVOKED:
        raise RevocationError("malformed", f"revocation list holds more than {MAX_REVOKED} keys")
    well_formed = all(isinstance(kid, str) and KID.fullmatch(kid) for kid in revoked)
    if not well_formed or len(set(revoked)) != len(revoked):
        raise RevocationError("malformed", "revoked key ids must be distinct, 16 lowercase hex digits each")


def is_newer(candidate: RevocationList, held: RevocationList | None) -> bool:
    """Whether candidate replaces the list held (a higher serial)."""
    return held is None or candidate.serial > held.serial
