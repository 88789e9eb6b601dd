"""The controller's tables (SQLAlchemy 2 declarative models)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Timezone-aware current time."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A moment, stored in UTC and always read back with its offset.

    PostgreSQL keeps the offset (timestamptz); SQLite keeps none, and a naive time read from it would
    be taken for local time by a browser (seven hours off in Vietnam). So a time is converted to UTC
    before it is stored (a naive one is taken to be UTC already), and every time read is given UTC's
    offset: the API never answers a naive one.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of every model."""

    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Area(Base):
    """A node of the area tree (province, region, commune, village, ...), of any depth."""

    __tablename__ = "areas"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    level: Mapped[str] = mapped_column(String(32))
    timezone: Mapped[str | None] = mapped_column(String(64))
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    ducking_db: Mapped[int | None] = mapped_column(Integer)  # None: inherited (-15 at the root)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    approval: Mapped[str | None] = mapped_column(String(16))  # None: inherited from the parent
    geocodes: Mapped[list[Any]] = mapped_column(JSON, default=list)  # CAP "valueName:value" codes
    emergency_confirm: Mapped[str | None] = mapped_column(String(16))  # None: inherited
    desired_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    parent: Mapped[Area | None] = relationship(remote_side="Area.id")


class AreaOutline(Base):
    """An area's administrative outline for the map (GeoJSON MultiPolygon coordinates), and the point
    inside it where the map writes the area's name."""

    __tablename__ = "area_outlines"

    area_id: Mapped[str] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True)
    coordinates: Mapped[list[Any]] = mapped_column(JSON)
    vertices: Mapped[int] = mapped_column(Integer)
    label_longitude: Mapped[float] = mapped_column(Float)
    label_latitude: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Device(Base):
    """A loudspeaker cluster's receiver."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    area_id: Mapped[str] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    latitude: Mapped[float | None] = mapped_column(Float)  # None: not surveyed; the map uses its area's
    longitude: Mapped[float | None] = mapped_column(Float)
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    public_key: Mapped[str | None] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(16))
    enrolled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    enrolment_count: Mapped[int] = mapped_column(Integer, default=0)
    volume: Mapped[int] = mapped_column(Integer, default=70)
    data_budget_mb: Mapped[int | None] = mapped_column(Integer)  # monthly mobile data allowance
    desired_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # every node of the broker as {host, port}, sent in its desired state; None: what it enrolled with
    broker_addresses: Mapped[list[Any] | None] = mapped_column(JSON)
    # the agent release it is to run (a rollout sets it) and the time that release has to prove healthy
    release_version: Mapped[str | None] = mapped_column(String(40))
    release_gate_s: Mapped[int] = mapped_column(Integer, default=300)

    area: Mapped[Area] = relationship()


class DeviceKey(Base):
    """A public key a device held, and when: receipts stay verifiable after it enrols again.

    No foreign key to devices: the history outlives a deleted device, as its receipts do.
    """

    __tablename__ = "device_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(48), index=True)
    key_id: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime())  # None: still held


class ClaimCode(Base):
    """A one-time enrolment code; only its hash is stored."""

    __tablename__ = "claim_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class User(Base):
    """A console or API user with a role scoped to an area subtree (None: the whole tree)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    area_id: Mapped[str | None] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"))
    full_name: Mapped[str] = mapped_column(String(200), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)  # raised to end every login at once
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class LoginSession(Base):
    """A login token, by its hash: the truth behind Redis's copy, so that a Redis lost or wiped
    logs nobody out (and a token revoked stays revoked)."""

    __tablename__ = "login_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)  # the user's session epoch when it was issued
    expires_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class ApiClient(Base):
    """Another system (a CAP source, a provincial information system) calling the API with its own key."""

    __tablename__ = "api_clients"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    area_id: Mapped[str | None] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # A warning centre whose Cancel and Update may also end alerts other clients of its scope put on the air.
    cancels_others: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class DeviceEvent(Base):
    """A signed event received from a device, stored exactly once."""

    __tablename__ = "device_events"
    __table_args__ = (UniqueConstraint("device_id", "install_id", "seq", name="uq_event_once"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(48), index=True)
    install_id: Mapped[str] = mapped_column(String(48))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(48), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    signature: Mapped[str] = mapped_column(String(100))
    # the signed message as received (None: stored before it was kept); loaded only when asked for
    envelope: Mapped[str | None] = mapped_column(Text, deferred=True)


class AuditEntry(Base):
    """Append-only record of an operator action."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    targets: Mapped[list[Any]] = mapped_column(JSON, default=list)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Occurrence(Base):
    """One concrete time to play one thing, for an area or a device (the scheduler's output)."""

    __tablename__ = "occurrences"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    area_id: Mapped[str | None] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(16))
    start_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    duration_ms: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[dict[str, Any]] = mapped_column(JSON)
    max_lateness_ms: Mapped[int] = mapped_column(BigInteger)
    valid_until_ms: Mapped[int | None] = mapped_column(BigInteger)
    quiet_override: Mapped[bool] = mapped_column(Boolean, default=False)
    issued_ms: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    schedule_id: Mapped[str | None] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"),
                                                    index=True)
    epoch: Mapped[int | None] = mapped_column(BigInteger)  # the scheduler epoch that wrote it
    broadcast_id: Mapped[str | None] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"),
                                                     index=True)


class MediaItem(Base):
    """A playable file of the library: normalised Opus, named by the SHA-256 devices fetch it by."""

    __tablename__ = "media"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # "upload" or "speech"
    original_name: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str | None] = mapped_column(Text)  # what was spoken, for speech
    duration_ms: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger)
    loudness_lufs: Mapped[float | None] = mapped_column(Float)  # of the original, before normalising
    area_id: Mapped[str | None] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Bulletin(Base):
    """Something to broadcast: a title, a level and what plays: a library file (or text being spoken
    into one), or a relayed station for a window of duration_ms (a scheduled background relay)."""

    __tablename__ = "bulletins"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))  # background, normal, priority or emergency
    media_sha256: Mapped[str | None] = mapped_column(ForeignKey("media.sha256", ondelete="RESTRICT"))
    relay_url: Mapped[str | None] = mapped_column(String(2000))  # a station instead of a file
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)  # a relay's window
    text: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(40))
    area_id: Mapped[str] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # preparing, draft, pending, approved, rejected, failed
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reviewed: Mapped[bool] = mapped_column(Boolean, default=False)  # approved by an approver, not by itself


class Schedule(Base):
    """When and where a bulletin plays: a recurrence in the area's local time, and targets."""

    __tablename__ = "schedules"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    bulletin_id: Mapped[str] = mapped_column(ForeignKey("bulletins.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # once, daily, weekly, dates, rrule
    start_local: Mapped[str] = mapped_column(String(19))  # YYYY-MM-DDTHH:MM[:SS], wall-clock time
    timezone: Mapped[str] = mapped_column(String(64))
    weekdays: Mapped[list[Any]] = mapped_column(JSON, default=list)
    dates: Mapped[list[Any]] = mapped_column(JSON, default=list)
    until_local: Mapped[str | None] = mapped_column(String(10))  # YYYY-MM-DD, the last day
    rule: Mapped[str | None] = mapped_column(String(500))
    area_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    device_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    max_lateness_ms: Mapped[int] = mapped_column(BigInteger)
    quiet_override: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    awaiting_confirmation: Mapped[bool] = mapped_column(Boolean, default=False)  # for a second approver
    confirmed_by: Mapped[str | None] = mapped_column(String(64))  # who confirmed an emergency schedule
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class SchedulerFence(Base):
    """The newest scheduler epoch that wrote; a writer with an older epoch is refused (one row)."""

    __tablename__ = "scheduler_fence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    holder: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Broadcast(Base):
    """Something put on the air now: one shared start instant for every target."""

    __tablename__ = "broadcasts"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    media_sha256: Mapped[str | None] = mapped_column(ForeignKey("media.sha256", ondelete="RESTRICT"))
    live_kind: Mapped[str | None] = mapped_column(String(16))  # microphone or relay; None for a file
    live_url: Mapped[str | None] = mapped_column(String(2000))  # the relayed station
    bulletin_id: Mapped[str | None] = mapped_column(ForeignKey("bulletins.id", ondelete="SET NULL"))
    schedule_id: Mapped[str | None] = mapped_column(ForeignKey("schedules.id", ondelete="SET NULL"),
                                                    index=True)  # a scheduled relay's schedule
    window_start_ms: Mapped[int | None] = mapped_column(BigInteger)  # and the window it airs in
    area_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    device_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(24))  # awaiting_confirmation, on_air, stopped, done
    start_ms: Mapped[int | None] = mapped_column(BigInteger)
    duration_ms: Mapped[int] = mapped_column(BigInteger)
    max_lateness_ms: Mapped[int] = mapped_column(BigInteger)
    quiet_override: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(64))
    confirmed_by: Mapped[str | None] = mapped_column(String(64))
    stopped_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recording_sha256: Mapped[str | None] = mapped_column(String(64))  # a live broadcast's record
    in_reply_to: Mapped[str | None] = mapped_column(String(48), index=True)  # the broadcast it corrects
    occurrence_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)  # for the air log once withdrawn


class CapAlertRecord(Base):
    """A CAP alert received, once per (client, sender, identifier), with what became of it."""

    __tablename__ = "cap_alerts"
    __table_args__ = (
        UniqueConstraint("client", "sender", "identifier", name="uq_cap_alert_once_per_client"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(200))
    identifier: Mapped[str] = mapped_column(String(200))
    sent: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))
    msg_type: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(500), default="")
    broadcast_id: Mapped[str | None] = mapped_column(ForeignKey("broadcasts.id", ondelete="SET NULL"))
    client: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class PresenceChange(Base):
    """A device going online or offline, for uptime over any period."""

    __tablename__ = "presence_log"
    __table_args__ = (Index("ix_presence_log_device_at", "device_id", "at_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(48))
    online: Mapped[bool] = mapped_column(Boolean)
    at_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    reason: Mapped[str] = mapped_column(String(16), default="")


class TelemetrySample(Base):
    """A device's telemetry, kept at most every few minutes for charts."""

    __tablename__ = "telemetry_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(48), index=True)
    at_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    uptime_s: Mapped[float] = mapped_column(Float)
    load1: Mapped[float | None] = mapped_column(Float)
    mem_used_pct: Mapped[float | None] = mapped_column(Float)
    disk_free_mb: Mapped[float | None] = mapped_column(Float)
    cpu_temp_c: Mapped[float | None] = mapped_column(Float)
    signal_dbm: Mapped[float | None] = mapped_column(Float)
    data_month_bytes: Mapped[int | None] = mapped_column(BigInteger)


class NotificationSubscription(Base):
    """Who is told of incidents in an area and everything below it: an e-mail address or a webhook,
    receiving what the role's rules give it (controller/notify/rules.py), or only the kinds listed."""

    __tablename__ = "notification_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    area_id: Mapped[str | None] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(8))  # email | webhook
    address: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(100), default="")  # a webhook's HMAC-SHA256 key
    kinds: Mapped[list[Any]] = mapped_column(JSON, default=list)  # empty: every kind of the role
    label: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Incident(Base):
    """Something broken or worth telling (a cluster offline, a failed delivery, an alert).

    open_key is unique: a lasting incident holds it while its cause lasts (cleared when resolved, so
    the same cause later opens a new one); a one-off incident keeps it, so it is raised only once,
    whichever controller sees it and however often."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    open_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    area_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    title: Mapped[str] = mapped_column(String(300))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)


class NotificationMessage(Base):
    """One message to one subscription (an incident opened or resolved, a digest), sent from this
    outbox by whichever controller claims it; dedupe_key makes it exist once."""

    __tablename__ = "notification_messages"
    __table_args__ = (Index("ix_notification_messages_due", "status", "next_attempt_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("notification_subscriptions.id", ondelete="CASCADE"), index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    purpose: Mapped[str] = mapped_column(String(16))  # opened | resolved | digest
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed | empty
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    claimed_until_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    last_error: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class BrokerAccountIssue(Base):
    """The last version of a broker account the controller signed (on NATS, the devices' account):
    the next is issued after it, and every controller instance signs from the same record."""

    __tablename__ = "broker_account_issues"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)  # the account's public key
    issued_at: Mapped[int] = mapped_column(BigInteger)  # the version's JWT time, s


class BrokerLoginRevocation(Base):
    """A device key's broker logins issued up to revoked_until are refused (NATS: the account lists
    it). Kept here, not read back from the nodes, which may answer with an older account."""

    __tablename__ = "broker_login_revocations"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    revoked_until: Mapped[int] = mapped_column(BigInteger)  # s


class AgentRelease(Base):
    """A signed release of the receiver agent, verified when it was added (loalang_protocol/releases.py);
    its file is kept in the releases folder under its SHA-256."""

    __tablename__ = "agent_releases"

    version: Mapped[str] = mapped_column(String(40), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    notes: Mapped[str] = mapped_column(Text, default="")
    signed_by: Mapped[str] = mapped_column(String(16))  # the release key's id
    built_ms: Mapped[int] = mapped_column(BigInteger)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    added_by: Mapped[str] = mapped_column(String(64))


class Rollout(Base):
    """A release offered to devices stage by stage; a stage with too many failures halts it."""

    __tablename__ = "rollouts"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    release_version: Mapped[str] = mapped_column(String(40))
    targets: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"areas": [...], "devices": [...]} as asked
    stages: Mapped[list[int]] = mapped_column(JSON)  # devices offered it by each stage's end
    gate_s: Mapped[int] = mapped_column(Integer)
    max_failures: Mapped[int] = mapped_column(Integer)  # a stage with more failures halts the rollout
    # running, paused, halted, completed, rolled_back
    state: Mapped[str] = mapped_column(String(16), index=True)
    stage: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class RolloutDevice(Base):
    """One device of a rollout: its stage, the release it ran before, and how it fared."""

    __tablename__ = "rollout_devices"

    rollout_id: Mapped[str] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(48), primary_key=True, index=True)
    stage: Mapped[int] = mapped_column(Integer)
    from_version: Mapped[str] = mapped_column(String(40), default="")
    state: Mapped[str] = mapped_column(String(16), default="waiting")  # waiting, offered, healthy, failed
    offered_ms: Mapped[int | None] = mapped_column(BigInteger)
    done_ms: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[str] = mapped_column(Text, default="")
