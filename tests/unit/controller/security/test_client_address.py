"""The client's address through trusted reverse proxies only."""

from __future__ import annotations

import ipaddress

import pytest

from controller.security.client_address import MAX_HOPS, forwarded_client

pytestmark = pytest.mark.unit

PROXIES = [ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("fd00::/64")]


@pytest.mark.parametrize(("peer", "forwarded", "client"), [
    ("10.0.0.2", ["198.51.100.7"], "198.51.100.7"),  # one trusted proxy
    ("10.0.0.2", ["198.51.100.7, 10.0.0.3"], "198.51.100.7"),  # two proxies of ours in a row
    ("10.0.0.2", ["203.0.113.1, 198.51.100.7"], "198.51.100.7"),  # the client's own claim is not read
    ("10.0.0.2", ["198.51.100.7", "10.0.0.3"], "198.51.100.7"),  # the header given twice
    ("fd00::2", ["[2001:db8::5]"], "2001:db8::5"),
    ("192.0.2.4", ["198.51.100.7"], "192.0.2.4"),  # not a proxy of ours: the header is anybody's word
    ("10.0.0.2", [], "10.0.0.2"),  # a proxy that forwarded nothing
    ("10.0.0.2", ["not-an-address"], "10.0.0.2"),
    ("10.0.0.2", ["198.51.100.7, garbage"], "10.0.0.2"),  # a broken chain stops where it breaks
    ("10.0.0.2", ["10.0.0.3"], "10.0.0.3"),  # only proxies: the leftmost of them
    ("unknown", ["198.51.100.7"], "unknown"),
])
def test_the_client_is_the_first_address_no_trusted_proxy_owns(peer: str, forwarded: list[str],
                                                                client: str) -> None:
    assert forwarded_client(peer, forwarded, PROXIES) == client


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert forwarded_client("10.0.0.2", ["198.51.100.7"], []) == "10.0.0.2"


def test_a_long_chain_is_read_only_so_far() -> None:
    chain = ", ".join(["198.51.100.7"] + ["10.0.0.9"] * (MAX_HOPS + 5))
    assert forwarded_client("10.0.0.2", [chain], PROXIES) == "10.0.0.9"
