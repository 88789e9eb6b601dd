"""Which hosts a relayed station may be on.

A relay makes the controller fetch the URL an operator typed. Left open, that is a way into the
controller's own network: its Redis, its broker's admin port, a cloud's metadata service. So a
station must resolve to public addresses only, unless its network is named in
`LOALANG_RELAY_ALLOWED_NETWORKS` (a commune's own Icecast on the office LAN, say). The check is
made when the broadcast or bulletin is created (a refusal says why) and again each time the relay
starts, since a name can point elsewhere by then.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from ..settings import Settings
from .sources import SourceError, relay_pcm

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_TIMEOUT_S = 5.0


def forbidden(address: Address, allowed: list[Network]) -> bool:
    """Whether a station at address may not be relayed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed if network.version == address.version):
        return False
    return not address.is_global or address.is_multicast


async def check_configured(url: str, settings: Settings) -> None:
    """check_station with the networks the settings allow."""
    await check_station(url, settings.relay_networks())


async def check_station(url: str, allowed: list[Network]) -> None:
    """Refuse (SourceError) a station whose host resolves to an address not allowed.

    A host that cannot be resolved now passes: the relay's start checks again and fails there.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise SourceError("the station URL's port is not a number from 1 to 65535") from None
    try:
        infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S)
    except (OSError, TimeoutError, UnicodeError):
        return
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if forbidden(address, allowed):
            raise SourceError(f"the station's host {host} is at {address}, a private or local address: only "
                              "public stations can be relayed, unless LOALANG_RELAY_ALLOWED_NETWORKS "
                              "names its network")


async def station_pcm(url: str, allowed: list[Network]) -> AsyncIterator[bytes]:
    """The station's audio as PCM blocks, once its address is checked again (SourceError if refused)."""
    await check_station(url, allowed)
    async for block in relay_pcm(url):
        yield block
