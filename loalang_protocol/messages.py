"""Message bodies of the protocol, as pydantic models.

Messages from devices ignore unknown fields (a newer agent may add some) but are strict
about the types of the fields they know. Signed bodies travel inside an envelope
(see envelope.py); the others are plain JSON.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from .releases import MAX_RELEASE_BYTES
from .releases import VERSION as RELEASE_VERSION
from .slugs import SLUG_MAX_LENGTH, check_slug

Slug = Annotated[str, StringConstraints(max_length=SLUG_MAX_LENGTH), AfterValidator(check_slug)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
Millis = Annotated[int, Field(ge=0)]
Volume = Annotated[int, Field(ge=0, le=100)]

__all__ = ["ValidationError"]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class HeldVersions(_Strict):
    """Desired-state versions a device holds: its own, and each of its areas'."""

    device: int = Field(0, ge=0)
    areas: dict[Slug, Annotated[int, Field(ge=0)]] = Field(default_factory=dict, max_length=16)


class DeviceStatus(_Strict):
    """Birth (online) or last will (offline) of one connection of one device; retained."""

    online: bool
    boot: int = Field(ge=0, description="boot counter, increases at every start of the agent")
    conn: int = Field(ge=0, description="connection counter within this boot")
    install_id: Slug
    agent_version: ShortText = ""
    protocol: int = 1
    held: HeldVersions = Field(default_factory=HeldVersions)
    ts: Millis = 0
    connected_ms: Millis = Field(0, description="when this connection was established (device clock)")

    def presence_key(self) -> tuple[int, int]:
        """Order of connections: a will from an older connection never hides a newer birth."""
        return (self.boot, self.conn)


class Telemetry(_Strict):
    """Periodic health report of a device."""

    ts: Millis
    uptime_s: float = Field(ge=0)
    load1: float | None = Field(None, ge=0)
    mem_used_pct: float | None = Field(None, ge=0, le=100)
    disk_free_mb: float | None = Field(None, ge=0)
    cpu_temp_c: float | None = Field(None, ge=-60, le=150)
    agent_version: ShortText = ""
    iface: ShortText | None = None
    signal_dbm: float | None = Field(None, ge=-200, le=0)
    modem_operator: ShortText | None = Field(None, description="the mobile operator the modem is on")
    modem_technology: ShortText | None = Field(None, description="lte, umts, gsm, 5gnr...")
    sim_state: ShortText | None = Field(None, description="ready, missing, locked or unknown")
    volume: Volume | None = None
    rejected_messages: int = Field(0, ge=0)
    bytes_received: int = Field(0, ge=0)
    playing: ShortText | None = Field(None, description="occurrence on air")
    playing_level: ShortText | None = None
    next_occurrence: ShortText | None = None
    next_start_ms: Millis | None = None
    cache_bytes: int | None = Field(None, ge=0)
    amplifier_on: bool | None = None
    time_known: bool | None = None
    data_month: ShortText | None = Field(None, description="month the data counter covers, YYYY-MM")
    data_month_bytes: int | None = Field(None, ge=0, description="bytes received and sent this month")
    stream_bytes: int = Field(0, ge=0, description="live stream bytes received since the agent started")
    stream_chunks: int = Field(0, ge=0, description="live audio chunks accepted since the agent started")
    stream_rejected: int = Field(0, ge=0, description="live chunks dropped as forged, replayed or malformed")
    revocation_serial: int | None = Field(None, ge=0, description="serial of the root-signed list of "
                                          "revoked signing keys held (none: no key revoked yet)")


class Reported(_Strict):
    """Versions of desired state the device has applied, and what it now does; retained."""

    ts: Millis
    applied: HeldVersions
    volume: Volume | None = None


class DeviceSettings(_Strict):
    """Settings a device converges to."""

    volume: Volume | None = None
    emergency_volume_floor: Volume | None = None


Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
MAX_DURATION_MS = 24 * 3600 * 1000
MAX_OCCURRENCES = 2000


class MediaSource(_Strict):
    """A file the device downloads ahead of time and plays from its cache."""

    type: Literal["media"]
    sha256: Sha256
    size: int = Field(gt=0, le=2_000_000_000)


class ToneSource(_Strict):
    """A generated tone (test tones, and the attention signal's stand-in in tests)."""

    type: Literal["tone"]
    frequency_hz: float = Field(ge=50, le=10_000)


class AttentionSource(_Strict):
    """The attention signal (chime or siren) every device keeps on disk."""

    type: Literal["attention"]


PublicKeyText = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{43}$")]  # URL-safe base64, 32 bytes


class StreamSource(_Strict):
    """A live stream: signed audio chunks on the stream's topic, played at their time plus a latency.

    The chunks are signed with one of keys (a key made for this stream alone; the chunk header
    says which); these keys are trusted because this desired state, signed by the controller,
    names them.
    """

    type: Literal["stream"]
    stream: Slug
    keys: list[PublicKeyText] = Field(min_length=1, max_length=4)
    latency_ms: int = Field(500, ge=50, le=10_000, description="played this long after capture")


Source = Annotated[MediaSource | ToneSource | AttentionSource | StreamSource, Field(discriminator="type")]
LevelName = Literal["emergency", "live", "priority", "normal", "background"]


class Occurrence(_Strict):
    """One concrete time to play one thing; recurrence rules stay in the controller."""

    id: Slug
    level: LevelName
    start_ms: Millis
    duration_ms: int = Field(gt=0, le=MAX_DURATION_MS)
    source: Source
    max_lateness_ms: int = Field(300_000, ge=0, le=MAX_DURATION_MS)
    valid_until_ms: Millis | None = None
    quiet_override: bool = Field(False, description="the operator's audited override of quiet hours")
    issued_ms: Millis = 0
    title: ShortText = ""


class QuietHours(_Strict):
    """The area's quiet hours in its own time zone, inherited from above when not set."""

    start: Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
    end: Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "Asia/Ho_Chi_Minh"


class ReleaseOffer(_Strict):
    """The agent release a device is to run (loalang_protocol/releases.py): it installs it at a quiet
    moment and must prove healthy on it within gate_s, else its board returns to the previous one."""

    version: Annotated[str, StringConstraints(pattern=f"^{RELEASE_VERSION.pattern}$", max_length=40)]
    sha256: Sha256
    size: int = Field(gt=0, le=MAX_RELEASE_BYTES)
    gate_s: int = Field(300, ge=30, le=3600)


class DesiredState(_Strict):
    """Signed desired state of one device or one area, versioned like a device twin.

    Occurrences travel as plain objects and are validated one by one by the agent, so one bad
    item is rejected with a receipt and the others still play.
    """

    scope: Literal["device", "area"]
    target: Slug
    version: int = Field(ge=1)
    settings: DeviceSettings = Field(default_factory=DeviceSettings)
    areas: list[Slug] | None = Field(
        None, max_length=16, description="device scope only: its area chain, root first"
    )
    occurrences: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_OCCURRENCES)
    quiet_hours: QuietHours | None = None
    ducking_db: int | None = Field(
        None, ge=-40, le=0, description="area scope: how far a background programme goes down under an "
        "announcement, in dB (the device's deepest area that sets it wins; -15 when none does)"
    )
    deleted: bool = False
    broker_addresses: list[Any] | None = Field(
        None, description="device scope only: every node of the broker, each {host, port}; the agent "
        "checks the list on its own and refuses a bad one without refusing the rest"
    )
    release: dict[str, Any] | None = Field(
        None, description="device scope only: the release to run, a ReleaseOffer; the agent checks it on "
        "its own and refuses a bad one without refusing the rest"
    )


class Command(_Strict):
    """A signed, idempotent command addressed to a device or an area."""

    id: Slug
    name: Slug
    args: dict[str, Any] = Field(default_factory=dict)


class CommandReply(_Strict):
    """A device's answer to a command."""

    id: Slug
    ok: bool
    detail: ShortText = ""
    ts: Millis = 0


class DeviceEvent(_Strict):
    """Something that happened on a device, numbered within its install id; signed by the device."""

    install_id: Slug
    seq: int = Field(ge=1)
    type: Slug
    ts: Millis
    data: dict[str, Any] = Field(default_factory=dict)


class EventAck(_Strict):
    """The controller's acknowledgement of stored events (signed)."""

    install_id: Slug
    seqs: list[Annotated[int, Field(ge=1)]] = Field(max_length=1000)


class ClockRequest(_Strict):
    """A device asks for the controller's time; t0 is the device's send time."""

    nonce: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
    t0_us: int


class ClockReply(_Strict):
    """Signed answer: t1 when the controller received the request, t2 when it replied (µs)."""

    nonce: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
    t0_us: int
    t1_us: int
    t2_us: int


class ControllerState(_Strict):
    """Retained state of one controller instance; its last will publishes online=false."""

    online: bool
    instance: Slug
    ts: Millis = 0
