"""httpx clients that ask for the default trust share one TLS context; one given its own keeps it."""

from __future__ import annotations

import ssl

import httpx
import pytest

from tests.shared_trust import share_default_trust

pytestmark = pytest.mark.unit


def context_of(client: httpx.Client) -> ssl.SSLContext:
    return client._transport._pool._ssl_context  # type: ignore[attr-defined]


def test_default_clients_share_one_context_and_an_own_context_is_kept() -> None:
    share_default_trust()
    share_default_trust()  # twice is once
    first, second = httpx.Client(), httpx.Client(base_url="http://127.0.0.1:1")
    assert context_of(first) is context_of(second)
    assert context_of(first).verify_mode == ssl.CERT_REQUIRED and context_of(first).check_hostname
    own = ssl.create_default_context()
    assert context_of(httpx.Client(verify=own)) is own
    assert context_of(httpx.Client(verify=False)).verify_mode == ssl.CERT_NONE
