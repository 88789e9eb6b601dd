"""The address a request comes from, seen through the reverse proxies the settings name.

Behind a proxy every request comes from the proxy's address, so login limits keyed on it would let
anyone lock every user out. The proxy appends the address it saw to X-Forwarded-For; only a proxy
the settings trust may say so. The list is read from the right: each entry added by a trusted proxy
is skipped, and the first address no trusted proxy owns is the client. Anything else (no header, a
peer that is not a trusted proxy, an entry that is not an address) leaves the peer's own address:
a client cannot choose the address it is counted under.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from starlette.requests import Request

from ..settings import Network, Settings, parse_networks

FORWARDED_FOR = "x-forwarded-for"
MAX_HOPS = 16  # a longer chain is not read further (the leftmost entries are the client's own word)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[Network]) -> bool:
    return any(address in network for network in proxies)


def forwarded_client(peer: str, forwarded_for: list[str], proxies: Sequence[Network]) -> str:
    """The client's address, given the connection's peer and the X-Forwarded-For headers' values."""
    current = _address(peer)
    if current is None or not proxies:
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",")][-MAX_HOPS:]
    while _trusted(current, proxies) and hops:
        previous = _address(hops.pop())
        if previous is None:
            break
        current = previous
    return str(current)


@lru_cache(maxsize=4)
def _proxies(setting: str) -> tuple[Network, ...]:
    return tuple(parse_networks(setting, "LOALANG_TRUSTED_PROXIES"))


def client_address(request: Request, settings: Settings) -> str:
    """Where request comes from: its peer, or the client a trusted proxy forwarded."""
    peer = request.client.host if request.client else "unknown"
    return forwarded_client(peer, request.headers.getlist(FORWARDED_FOR), _proxies(settings.trusted_proxies))
