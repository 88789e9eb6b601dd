"""Every MQTT topic of the protocol, and the parser that maps a topic back to its meaning.

The protocol version is part of the prefix (``loa/v1``), so a future version can run
beside this one on the same broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .slugs import check_slug, is_slug

PREFIX = "loa/v1"


class DeviceTopic(StrEnum):
    """Per-device topic leaves; the first group is published by the device itself."""

    STATUS = "status"  # birth and last will, retained
    TELEMETRY = "telemetry"
    EVENT = "event"  # signed device events (receipts, security events)
    REPLY = "reply"  # replies to commands
    REPORTED = "reported"  # desired-state versions applied, retained
    CLOCK_REQUEST = "clock/req"
    # published by the controller to the device
    DESIRED = "desired"  # signed, retained
    COMMAND = "cmd"  # signed
    EVENT_ACK = "ack"  # signed acknowledgements of device events
    CLOCK_REPLY = "clock/reply"  # signed, tied to the request's nonce


DEVICE_PUBLISHES = (
    DeviceTopic.STATUS,
    DeviceTopic.TELEMETRY,
    DeviceTopic.EVENT,
    DeviceTopic.REPLY,
    DeviceTopic.REPORTED,
    DeviceTopic.CLOCK_REQUEST,
)
DEVICE_RECEIVES = (
    DeviceTopic.DESIRED,
    DeviceTopic.COMMAND,
    DeviceTopic.EVENT_ACK,
    DeviceTopic.CLOCK_REPLY,
)


class AreaTopic(StrEnum):
    """Per-area topic leaves, published by the controller once per area."""

    DESIRED = "desired"  # signed, retained
    COMMAND = "cmd"  # signed


class StreamTopic(StrEnum):
    """Per-stream topic leaves, published by the controller's live encoders."""

    CHUNK = "chunk"  # binary signed audio chunks, QoS 0, never retained
    META = "meta"  # signed stream description (codec, keys), retained


def device(device_id: str, leaf: DeviceTopic) -> str:
    """Topic of one device."""
    return f"{PREFIX}/dev/{check_slug(device_id, 'device id')}/{leaf.value}"


def area(area_id: str, leaf: AreaTopic) -> str:
    """Topic of one area."""
    return f"{PREFIX}/area/{check_slug(area_id, 'area id')}/{leaf.value}"


def stream(stream_id: str, leaf: StreamTopic) -> str:
    """Topic of one live stream."""
    return f"{PREFIX}/stream/{check_slug(stream_id, 'stream id')}/{leaf.value}"


def controller_state(instance_id: str) -> str:
    """Retained online/offline state of one controller instance (its last will sets offline)."""
    return f"{PREFIX}/ctl/{check_slug(instance_id, 'controller instance id')}/state"


ALL_CONTROLLER_STATES = f"{PREFIX}/ctl/+/state"


def revocations(root_kid: str) -> str:
    """Retained, root-signed list of revoked signing keys, for every device of that root (read only)."""
    return f"{PREFIX}/keys/{check_slug(root_kid, 'root key id')}/revoked"


ALL_REVOCATIONS = f"{PREFIX}/keys/+/revoked"


def all_devices(leaf: DeviceTopic) -> str:
    """Subscription filter for one leaf of every device (controller side)."""
    return f"{PREFIX}/dev/+/{leaf.value}"


@dataclass(frozen=True)
class ParsedTopic:
    """What a topic addresses: family ('dev', 'area', 'stream', 'ctl', 'keys'), the id and the leaf."""

    family: str
    ident: str
    leaf: str


def parse(topic: str) -> ParsedTopic | None:
    """Map a topic back to (family, id, leaf); None for anything not of this protocol."""
    prefix = PREFIX + "/"
    if not topic.startswith(prefix):
        return None
    parts = topic[len(prefix):].split("/", 2)
    if len(parts) != 3 or not is_slug(parts[1]):
        return None
    family, ident, leaf = parts
    if leaf not in _LEAVES.get(family, ()):
        return None
    return ParsedTopic(family, ident, leaf)


_LEAVES = {  # each family's leaves (parse runs for every message the controller receives)
    "dev": frozenset(t.value for t in DeviceTopic),
    "area": frozenset(t.value for t in AreaTopic),
    "stream": frozenset(t.value for t in StreamTopic),
    "ctl": frozenset({"state"}),
    "keys": frozenset({"revoked"}),
}
