"""Device requests to the controller's HTTP API, signed with the device's own key.

Headers: ``X-Loa-Device`` (device id), ``X-Loa-Time`` (ms since the epoch), ``X-Loa-Content-SHA256``
(SHA-256 of the body, hex; that of an empty body for a GET) and ``X-Loa-Signature``: Ed25519 over
``b"loa-http-v2\\0" + method + "\\0" + path + "\\0" + time + "\\0" + body SHA-256``. The body is
thus signed too: an upload changed in transit no longer matches. No extra secret is needed: the
key the device enrolled with is its identity.

Agents from before the body was signed send no body hash and sign ``b"loa-http-v1\\0" + method +
"\\0" + path + "\\0" + time``; that is still accepted for a request without a body (their media
downloads), never for one with a body.
"""

from __future__ import annotations

import hashlib
import time
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .keys import KeyPair, b64decode, b64encode, verify_raw

DOMAIN_V1 = b"loa-http-v1\x00"
DOMAIN = b"loa-http-v2\x00"
MAX_SKEW_MS = 300_000
DEVICE_HEADER = "X-Loa-Device"
TIME_HEADER = "X-Loa-Time"
BODY_HASH_HEADER = "X-Loa-Content-SHA256"
SIGNATURE_HEADER = "X-Loa-Signature"


class Refusal(StrEnum):
    """Why a device request is not accepted (stable codes)."""

    NOT_SIGNED = "device_signature_invalid"  # wrong key, stale time, malformed signature
    BODY_CHANGED = "body_hash_mismatch"  # the body is not the one the device signed
    BODY_NOT_SIGNED = "body_not_signed"  # a body with an old-style signature that does not cover it


def body_hash(body: bytes) -> str:
    """The SHA-256 of a request body, as the header carries it (lowercase hex)."""
    return hashlib.sha256(body).hexdigest()


def _message(method: str, path: str, time_ms: int, content_hash: str | None) -> bytes:
    signed = f"{method.upper()}\x00{path}\x00{time_ms}"
    if content_hash is None:
        return DOMAIN_V1 + signed.encode()
    return DOMAIN + f"{signed}\x00{content_hash}".encode()


def sign_request(key: KeyPair, device_id: str, method: str, path: str, now_ms: int | None = None,
                 body: bytes = b"") -> dict[str, str]:
    """Headers that prove the request, body included, comes from this device."""
    stamp = int(time.time() * 1000) if now_ms is None else now_ms
    content_hash = body_hash(body)
    return {
        DEVICE_HEADER: device_id,
        TIME_HEADER: str(stamp),
        BODY_HASH_HEADER: content_hash,
        SIGNATURE_HEADER: b64encode(key.sign(_message(method, path, stamp, content_hash))),
    }


def check_request(public_key: Ed25519PublicKey, method: str, path: str, headers: dict[str, str], body: bytes,
                  now_ms: int | None = None) -> Refusal | None:
    """None when the device signed this request and this body at a time close to ours; else why not.
    headers maps the X-Loa-* header names to their values (absent ones left out)."""
    claimed = headers.get(BODY_HASH_HEADER)
    if claimed is None and body:
        return Refusal.BODY_NOT_SIGNED
    if claimed is not None and claimed != body_hash(body):
        return Refusal.BODY_CHANGED
    if not verify_request(public_key, method, path, headers.get(TIME_HEADER, ""),
                          headers.get(SIGNATURE_HEADER, ""), now_ms, claimed):
        return Refusal.NOT_SIGNED
    return None


def verify_request(public_key: Ed25519PublicKey, method: str, path: str, time_text: str, signature: str,
                   now_ms: int | None = None, content_hash: str | None = None) -> bool:
    """True when the signature is the device's for this request (and body hash, when given) and its
    time is close to ours."""
    current = int(time.time() * 1000) if now_ms is None else now_ms
    if not time_text.isdigit() or len(time_text) > 15:
        return False
    stamp = int(time_text)
    if abs(current - stamp) > MAX_SKEW_MS:
        return False
    try:
        raw = b64decode(signature)
    except ValueError:
        return False
    return verify_raw(public_key, raw, _message(method, path, stamp, content_hash))
