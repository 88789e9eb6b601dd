"""Signed device requests cover the body: a changed body, a body hash that was swapped too, and a body
under an old-style signature are refused, each with its code; an old agent's GET is still accepted."""

from __future__ import annotations

import pytest

from loalang_protocol.http_auth import (
    BODY_HASH_HEADER,
    DOMAIN_V1,
    SIGNATURE_HEADER,
    TIME_HEADER,
    Refusal,
    body_hash,
    check_request,
    sign_request,
)
from loalang_protocol.keys import KeyPair, b64encode

pytestmark = pytest.mark.unit

PATH = "/api/v1/devices/loa-1/logs"
KEY = KeyPair.generate()


def check(headers: dict[str, str], body: bytes, method: str = "POST", path: str = PATH) -> Refusal | None:
    return check_request(KEY.private.public_key(), method, path, headers, body)


def test_a_request_is_accepted_with_the_body_it_was_signed_with() -> None:
    assert check(sign_request(KEY, "loa-1", "POST", PATH, body=b"log lines"), b"log lines") is None
    assert check(sign_request(KEY, "loa-1", "GET", "/media/ab"), b"", "GET", "/media/ab") is None


def test_a_body_changed_in_transit_is_refused() -> None:
    headers = sign_request(KEY, "loa-1", "POST", PATH, body=b"log lines")
    assert check(headers, b"forged lines") is Refusal.BODY_CHANGED
    swapped = {**headers, BODY_HASH_HEADER: body_hash(b"forged lines")}
    assert check(swapped, b"forged lines") is Refusal.NOT_SIGNED, "the hash is signed too"
    another_key = sign_request(KeyPair.generate(), "loa-1", "POST", PATH, body=b"x")
    assert check(another_key, b"x") is Refusal.NOT_SIGNED


def test_an_old_style_signature_is_accepted_only_without_a_body() -> None:
    stamp = str(sign_request(KEY, "loa-1", "GET", "/media/ab")[TIME_HEADER])
    signed = DOMAIN_V1 + f"GET\x00/media/ab\x00{stamp}".encode()
    old = {TIME_HEADER: stamp, SIGNATURE_HEADER: b64encode(KEY.sign(signed))}
    assert check(old, b"", "GET", "/media/ab") is None, "agents of before keep downloading media"
    assert check(old, b"forged", "GET", "/media/ab") is Refusal.BODY_NOT_SIGNED
