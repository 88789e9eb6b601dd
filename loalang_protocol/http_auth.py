"""Device requests to the controller's HTTP API, signed with the device's own key.

Headers: ``X-Loa-Device`` (device id), ``X-Loa-Time`` (ms since the epoch) and
``X-Loa-Signature``: Ed25519 over ``b"loa-http-v1\\0" + method + "\\0" + path + "\\0" + time``.
No extra secret is needed: the key the device enrolled with is its identity.
"""

from __future__ import annotations

import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .keys import KeyPair, b64decode, b64encode, verify_raw

DOMAIN = b"loa-http-v1\x00"
MAX_SKEW_MS = 300_000
DEVICE_HEADER = "X-Loa-Device"
TIME_HEADER = "X-Loa-Time"
SIGNATURE_HEADER = "X-Loa-Signature"


def _message(method: str, path: str, time_ms: int) -> bytes:
    return DOMAIN + f"{method.upper()}\x00{path}\x00{time_ms}".encode()


def sign_request(
    key: KeyPair, device_id: str, method: str, path: str, now_ms: int | None = None
) -> dict[str, str]:
    """Headers that prove the request comes from this device."""
    stamp = int(time.time() * 1000) if now_ms is None else now_ms
    return {
        DEVICE_HEADER: device_id,
        TIME_HEADER: str(stamp),
        SIGNATURE_HEADER: b64encode(key.sign(_message(method, path, stamp))),
    }


def verify_request(public_key: Ed25519PublicKey, method: str, path: str, time_text: str, signature: str,
                   now_ms: int | None = None) -> bool:
    """True when the signature is the device's for this request and its time is close to ours."""
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
    return verify_raw(public_key, raw, _message(method, path, stamp))
