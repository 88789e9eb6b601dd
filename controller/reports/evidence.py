"""Receipts as evidence: each stored device event checked again against the key its device held then.

Every event is stored with its signed envelope as received. Checking one means: the envelope's
signature holds for the device's event topic under a key the device held when the event was
received (its key history survives a new enrolment), and the stored row says what the envelope
says. Rows stored before envelopes were kept are counted apart, neither verified nor failed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import undefer

from loalang_protocol import topics
from loalang_protocol.envelope import Opened, Rejected, parse, verify
from loalang_protocol.keys import public_from_text
from loalang_protocol.messages import DeviceEvent
from loalang_protocol.topics import DeviceTopic

from ..db.models import DeviceEvent as StoredEvent
from ..db.models import DeviceKey
from ..db.session import Database

MAX_LISTED_FAILURES = 50  # the counts cover every failure; the list names the first ones
CHUNK_ROWS = 1000
# Events in flight while a device enrols again are stored a moment after its old key ended.
KEY_CHANGE_GRACE = timedelta(minutes=1)


class Unproven(ValueError):
    """A stored event that its envelope does not prove; reason is a short stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Failure:
    """One stored event that failed its check."""

    event_id: int
    device_id: str
    install_id: str
    seq: int
    reason: str
    detail: str


@dataclass
class Summary:
    """What a check of the stored events found."""

    checked: int = 0
    verified: int = 0
    without_evidence: int = 0
    failed_by_reason: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """How many events failed, for every reason."""
        return sum(self.failed_by_reason.values())

    def add_failure(self, failure: Failure) -> None:
        """Count a failure, and list it while the list is short."""
        self.failed_by_reason[failure.reason] += 1
        if len(self.failures) < MAX_LISTED_FAILURES:
            self.failures.append(failure)


def verify_receipts(db: Database, since: datetime | None = None, until: datetime | None = None,
                    device_id: str | None = None) -> Summary:
    """Check every stored event that occurred in [since, until) (of one device, when given)."""
    history = key_history(db, device_id)
    summary = Summary()
    for row in stored_events(db, since, until, device_id):
        summary.checked += 1
        if row.envelope is None:
            summary.without_evidence += 1
            continue
        try:
            check_event(row, row.envelope, history.get(row.device_id, []))
        except Unproven as exc:
            failure = Failure(row.id, row.device_id, row.install_id, row.seq, exc.reason, exc.detail)
            summary.add_failure(failure)
        else:
            summary.verified += 1
    return summary


def key_history(db: Database, device_id: str | None) -> dict[str, list[DeviceKey]]:
    """Every key each device held (of one device, when given)."""
    query = select(DeviceKey).order_by(DeviceKey.id)
    if device_id is not None:
        query = query.where(DeviceKey.device_id == device_id)
    history: dict[str, list[DeviceKey]] = {}
    with db.session() as session:
        for key in session.scalars(query):
            history.setdefault(key.device_id, []).append(key)
        session.expunge_all()
    return history


def stored_events(db: Database, since: datetime | None, until: datetime | None,
                  device_id: str | None) -> Iterator[StoredEvent]:
    """The stored events of the period, with their envelopes, read a chunk at a time."""
    query = (select(StoredEvent).options(undefer(StoredEvent.envelope))
             .order_by(StoredEvent.id).limit(CHUNK_ROWS))
    if since is not None:
        query = query.where(StoredEvent.occurred_at >= since)
    if until is not None:
        query = query.where(StoredEvent.occurred_at < until)
    if device_id is not None:
        query = query.where(StoredEvent.device_id == device_id)
    last_id = 0
    while True:
        with db.session() as session:
            rows = list(session.scalars(query.where(StoredEvent.id > last_id)))
            session.expunge_all()
        yield from rows
        if len(rows) < CHUNK_ROWS:
            return
        last_id = rows[-1].id


def check_event(row: StoredEvent, envelope: str, keys: list[DeviceKey]) -> None:
    """Raise Unproven unless envelope (the row's) is signed by the device's key of the time and says
    what the row says."""
    try:
        topic = topics.device(row.device_id, DeviceTopic.EVENT)
        doc = parse(envelope.encode("utf-8"))
    except (Rejected, ValueError) as exc:
        raise Unproven("malformed", str(exc)[:200]) from None
    public = key_held_then(keys, doc["kid"], row.received_at)
    try:
        opened = verify(topic, doc, public, now=doc["iat"])  # its time window was checked on arrival
    except Rejected as exc:
        raise Unproven(exc.reason, exc.detail) from None
    stored = stored_fields(row)
    differing = [name for name, value in signed_fields(opened).items() if stored[name] != value]
    if differing:
        raise Unproven("row_differs", f"stored {', '.join(differing)} differ from what was signed")


def key_held_then(keys: list[DeviceKey], kid: str, received_at: datetime) -> Ed25519PublicKey:
    """The device's public key named kid, if the device held it when the event was received."""
    named = [key for key in keys if key.key_id == kid]
    if not named:
        raise Unproven("unknown_key", f"the device never held key {kid[:20]}")
    for key in named:
        start, end = key.valid_from - KEY_CHANGE_GRACE, key.valid_until
        if start <= received_at and (end is None or received_at <= end + KEY_CHANGE_GRACE):
            return public_from_text(key.public_key)
    raise Unproven("key_not_held_then",
                        f"the device did not hold key {kid[:20]} at {received_at:%Y-%m-%d %H:%M:%S} UTC")


def signed_fields(opened: Opened) -> dict[str, Any]:
    """What the envelope says of the event, in the stored row's terms."""
    try:
        event = DeviceEvent.model_validate(opened.body)
    except ValidationError as exc:
        raise Unproven("malformed", f"the signed event is not valid: {exc.errors()[0]['msg']}") from None
    return {"install_id": event.install_id, "seq": event.seq, "type": event.type, "occurred_ms": event.ts,
            "data": event.data, "signature": opened.signature}


def stored_fields(row: StoredEvent) -> dict[str, Any]:
    """What the stored row says of the event."""
    return {"install_id": row.install_id, "seq": row.seq, "type": row.type,
            "occurred_ms": round(row.occurred_at.timestamp() * 1000), "data": row.data,
            "signature": row.signature}


def render(summary: Summary, since: datetime | None, until: datetime | None) -> list[str]:
    """The summary as lines for the terminal."""
    period = f"{since.isoformat() if since else 'the first'} to {until.isoformat() if until else 'now'}"
    lines = [f"device events of {period}: {summary.checked} checked",
             f"  verified: {summary.verified}",
             f"  failed: {summary.failed}"]
    lines += [f"    {reason}: {count}" for reason, count in sorted(summary.failed_by_reason.items())]
    lines.append(f"  without evidence (stored before envelopes were kept): {summary.without_evidence}")
    if summary.failures:
        listed = len(summary.failures)
        shown = f"first {listed} of {summary.failed}" if summary.failed > listed else f"{summary.failed}"
        lines.append(f"failed events ({shown}):")
        lines += [f"  event {f.event_id} device {f.device_id} install {f.install_id} seq {f.seq}: "
                  f"{f.reason}: {f.detail}" for f in summary.failures]
    return lines
