"""Broker addresses: the nodes of one broker cluster, read, checked and taken in turn.

A link holds a list of addresses (one for a single broker). It connects first to one chosen at
random, so that a fleet spreads over the nodes, and after a failed attempt or a lost connection it
tries the next one in the list, round and round. An address is written `host:port` (`[v6]:port` for
an IPv6 address) or given as a table with `host` and `port`.
"""

from __future__ import annotations

import ipaddress
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

MAX_ADDRESSES = 16
MAX_HOST_LENGTH = 253
_HOST_LABEL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")  # `_`: container names


class AddressError(ValueError):
    """A broker address or address list that cannot be used; the message says why."""


class BrokerAddress(NamedTuple):
    """One node of the broker: a host name or IP address, and a port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def is_valid_host(host: str) -> bool:
    """Whether host is an IP address or a host name (letters, digits, hyphens and underscores in
    dot-separated labels)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    if not host or len(host) > MAX_HOST_LENGTH:
        return False
    return all(_HOST_LABEL.match(label) for label in host.removesuffix(".").split("."))


def checked_address(host: Any, port: Any) -> BrokerAddress:
    """A BrokerAddress from host and port, or AddressError naming what is wrong."""
    if not isinstance(host, str) or not is_valid_host(host):
        raise AddressError(f"{str(host)[:60]!r} is not a host name or IP address")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise AddressError(f"port {str(port)[:10]!r} of {host} is not a number from 1 to 65535")
    return BrokerAddress(host, port)


def parse_address(text: str) -> BrokerAddress:
    """`host:port` or `[v6]:port` as a BrokerAddress; AddressError if it is not one."""
    bracketed = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})", text)
    if bracketed:
        host, port = bracketed.group(1), bracketed.group(2)
    else:
        host, _, port = text.rpartition(":")
        if ":" in host:
            raise AddressError(f"{text[:60]!r}: write an IPv6 address in brackets, as [::1]:1883")
    if not port.isdigit() or len(port) > 5:
        raise AddressError(f"{text[:60]!r} is not host:port")
    return checked_address(host, int(port))


def address_from(value: Any) -> BrokerAddress:
    """An address given as `host:port` text or as a table with host and port."""
    if isinstance(value, str):
        return parse_address(value)
    if isinstance(value, Mapping):
        if set(value) != {"host", "port"}:
            raise AddressError("an address table has exactly a host and a port")
        return checked_address(value["host"], value["port"])
    raise AddressError("an address is host:port text or a table with host and port")


def address_list(values: Any) -> list[BrokerAddress]:
    """A usable address list: 1 to MAX_ADDRESSES addresses, each valid, repeats dropped."""
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise AddressError("the broker addresses are not a list")
    if not values:
        raise AddressError("the broker address list is empty")
    if len(values) > MAX_ADDRESSES:
        raise AddressError(f"{len(values)} broker addresses, more than {MAX_ADDRESSES}")
    return list(dict.fromkeys(address_from(value) for value in values))


def first_index(count: int, rng: random.Random | None = None) -> int:
    """Where a link starts in a list of count addresses: anywhere, so a fleet spreads over them."""
    return (rng or random).randrange(count)


def next_index(index: int, count: int) -> int:
    """The address tried after the one at index: the next one, back to the first after the last."""
    return (index + 1) % count


class AddressRotation:
    """The addresses a link tries, and which one it is at."""

    def __init__(self, addresses: Iterable[BrokerAddress], rng: random.Random | None = None) -> None:
        self._rng = rng
        self.addresses = list(addresses)
        if not self.addresses:
            raise AddressError("a link needs at least one broker address")
        self._index = first_index(len(self.addresses), rng)

    @property
    def current(self) -> BrokerAddress:
        """The address of the next (or the present) connection."""
        return self.addresses[self._index]

    def advance(self) -> BrokerAddress:
        """Move on to the next address (after a failure on the current one); returns it."""
        self._index = next_index(self._index, len(self.addresses))
        return self.current

    def replace(self, addresses: Iterable[BrokerAddress]) -> bool:
        """Take a new list; the current address stays if it is in it (returns True), else the next
        connection goes to one of the new addresses chosen at random."""
        new = list(addresses)
        if not new:
            raise AddressError("a link needs at least one broker address")
        current = self.current
        self.addresses = new
        if current in new:
            self._index = new.index(current)
            return True
        self._index = first_index(len(new), self._rng)
        return False
