"""What the controller needs from a broker's account system, whatever the broker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from loalang_protocol import topics
from loalang_protocol.topics import AreaTopic, DeviceTopic, StreamTopic

DEVICE_ACCOUNT_PREFIX = "dev-"
"""Device broker accounts and client ids live in their own namespace: no device id an admin may
choose can name (and so replace, delete or take the session of) the controller's account, its
client id (`controller-<instance>`) or any other account of the broker. Devices enrolled before
the namespace existed keep their account named by the bare device id until they enrol again; the
controller touches such an account only when it carries that device's own role."""


def device_username(device_id: str) -> str:
    """A device's broker user name, which is also the only client id it may connect with."""
    return DEVICE_ACCOUNT_PREFIX + device_id


def device_role(device_id: str) -> str:
    """The broker role holding a device's topics."""
    return f"device-{device_id}"


@dataclass(frozen=True)
class DeviceAccount:
    """A device's broker identity and where it may go."""

    device_id: str
    password: str
    areas: tuple[str, ...]  # its area chain, root first
    replaces_earlier: bool = True  # it may hold an older login (enrolled before): that one must stop

    @property
    def username(self) -> str:
        """Broker user name, in the devices' namespace."""
        return device_username(self.device_id)

    @property
    def client_id(self) -> str:
        """The only client id this account may connect with (its user name)."""
        return self.username


class BrokerUnavailable(RuntimeError):
    """The broker's account system cannot be reached or did not answer."""


@dataclass(frozen=True)
class BrokerLogin:
    """What a device presents to the broker: on Mosquitto its user name, password and the client id
    bound to them; on NATS a signed login (a JWT) as its password and a client id nobody can guess."""

    username: str
    password: str
    client_id: str


@dataclass(frozen=True)
class TopicGrants:
    """Least-privilege topic lists for one device."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    subscribe_patterns: tuple[str, ...]
    subscribe_denied: tuple[str, ...]


def device_grants(device_id: str, areas: tuple[str, ...]) -> TopicGrants:
    """Publish only its own device topics; subscribe to its own, its areas', streams one by one and the
    revocation list of its root."""
    publish = tuple(topics.device(device_id, leaf) for leaf in topics.DEVICE_PUBLISHES)
    subscribe = [topics.device(device_id, leaf) for leaf in topics.DEVICE_RECEIVES]
    for area_id in areas:
        subscribe += [topics.area(area_id, leaf) for leaf in AreaTopic]
    subscribe.append(topics.ALL_CONTROLLER_STATES)
    streams = tuple(f"{topics.PREFIX}/stream/+/{leaf.value}" for leaf in StreamTopic)
    # A single stream may be subscribed to (pattern); a wildcard over all streams may not. The
    # root-signed revocation lists are read-only for devices: nothing grants a device to publish them.
    denied = (*streams, f"{topics.PREFIX}/stream/#")
    return TopicGrants(publish, tuple(subscribe), (*streams, topics.ALL_REVOCATIONS), denied)


class BrokerAccounts(Protocol):
    """Provisioning interface implemented per broker (Mosquitto's dynamic security, NATS)."""

    async def prepare(self) -> None:
        """Give the controller's own account what it needs (idempotent)."""

    async def provision_device(self, account: DeviceAccount) -> BrokerLogin:
        """Create or replace a device's account; old credentials stop working and old sessions are cut.
        Returns the login the device must present."""

    async def update_device_areas(self, device_id: str, areas: tuple[str, ...]) -> None:
        """Change which area topics a device may subscribe to (after a move)."""

    async def revoke_device(self, device_id: str) -> None:
        """Remove a device's account and cut its session."""

    async def close(self) -> None:
        """Close any connection of its own (the controller is stopping)."""


__all__ = ["BrokerAccounts", "BrokerLogin", "BrokerUnavailable", "DeviceAccount", "DeviceTopic",
           "TopicGrants", "device_grants", "device_role", "device_username"]
