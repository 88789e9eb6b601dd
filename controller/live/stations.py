"""Which hosts a relayed station may be on.

A relay makes the controller fetch the URL an operator typed. Left open, that is a way into the
controller's own network: its Redis, its broker's admin port, a cloud's metadata service. So a
station must resolve to public addresses only, unless its network is named in
`LOALANG_RELAY_ALLOWED_NETWORKS` (a commune's own Icecast on the office LAN, say). The check is
made when the broadcast or bulletin is created (a refusal says why), and then on every connection
the relay makes (station_proxy.py): at its start, on each redirect and for each segment of an HLS
playlist, since a name can point elsewhere by then and a station can send ffmpeg anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from urllib.parse import urlsplit

from ..settings import Settings
from .sources import SourceError

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
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise SourceError("the station URL's port is not a number from 1 to 65535") from None
    with contextlib.suppress(Unresolved):
        await checked_address(parts.hostname or "", port, allowed)


class Unresolved(SourceError):
    """A station's host has no address now."""


async def checked_address(host: str, port: int, allowed: list[Network]) -> Address:
    """The address to connect to for host: its first, once every address it resolves to is allowed.

    SourceError when one is not (a name with one private address among public ones is refused whole),
    Unresolved when it has none.
    """
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):
        raise Unresolved(f"the station's host {host[:100]} cannot be resolved") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for address in addresses:
        if forbidden(address, allowed):
            raise SourceError(f"the station's host {host[:100]} is at {address}, a private or local address: "
                              "only public stations can be relayed, unless LOALANG_RELAY_ALLOWED_NETWORKS "
                              "names its network")
    if not addresses:
        raise Unresolved(f"the station's host {host[:100]} has no address")
    return addresses[0]
