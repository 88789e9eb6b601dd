"""Devices' signed events (receipts, security events), taken in batches.

A province's fleet sends its receipts in the same second: `received` as a broadcast arrives,
`started` at the shared instant, `completed` when it ends. One at a time, each cost a database
commit, several Redis round trips and a wait for the broker's acknowledgement of its reply, and
the controller fell minutes behind. Here the MQTT handler only queues the raw message; a batch
loop takes whatever has queued (up to MAX_BATCH), reads the devices in one query, verifies each
signature, stores every new event with its envelope as received (the evidence that the device signed
it; reports/evidence.py checks it again) in one transaction (a resend is skipped by the unique key),
advances deliveries in one Redis pipeline, and acknowledges each device once, the
acknowledgements sent together. An event is acknowledged only once it is stored: if storing
fails, nothing is acknowledged and the devices send again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert, select, tuple_
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from loalang_protocol import topics
from loalang_protocol.envelope import Rejected, open_device_message
from loalang_protocol.keys import public_from_text
from loalang_protocol.messages import DeviceEvent, EventAck
from loalang_protocol.topics import DeviceTopic

from .. import feed
from ..broadcasting import delivery
from ..context import Services
from ..db.models import Device, Occurrence
from ..db.models import DeviceEvent as StoredEvent
from ..notify.hearing import on_heard
from ..presence import PlayReceipt
from .batching import Batches

log = logging.getLogger(__name__)

MAX_BATCH = 500
QUEUE_LIMIT = 5000  # a full queue makes the MQTT handler wait: the inbox's kept lane holds the rest
ACK_TTL_S = 3600
PLAY_STARTS = frozenset({"started", "resumed"})
PLAY_ENDS = frozenset({"completed", "failed", "stopped", "preempted", "interrupted", "missed", "skipped"})


class Dropped(ValueError):
    """A device message that is not acted on; its reason goes to the counters."""


@dataclass(frozen=True)
class Arrived:
    """An event as it came off the wire."""

    device_id: str
    payload: bytes


@dataclass(frozen=True)
class Verified:
    """An event whose signature checked out, with what its device's record says."""

    device: Device
    event: DeviceEvent
    signature: str
    envelope: str  # the payload as received: the evidence that the device signed the event

    @property
    def key(self) -> tuple[str, str, int]:
        return self.device.id, self.event.install_id, self.event.seq


class EventIntake:
    """Arrived events, handled in batches (a failed batch is not acknowledged: devices resend)."""

    def __init__(self, services: Services, drop: Callable[[str, str], None]) -> None:
        self.services = services
        self.drop = drop  # (topic, reason): counted and logged by the bridge
        self.batches: Batches[Arrived] = Batches("device events", self.handle, MAX_BATCH, QUEUE_LIMIT)

    async def submit(self, device_id: str, payload: bytes) -> None:
        """Queue an event (waits while the queue is full)."""
        await self.batches.put(Arrived(device_id, payload))

    async def run(self) -> None:
        """Handle batches until cancelled."""
        await self.batches.run()

    async def handle(self, batch: list[Arrived]) -> None:
        """Verify, store, advance deliveries and acknowledge one batch."""
        verified = self._verify(batch)
        if not verified:
            return
        try:
            new = self._store(verified)
        except SQLAlchemyError as exc:
            log.error("device events not stored (%s); not acknowledged, devices will resend", exc)
            return
        fresh = [v for v in verified if v.key in new]
        for item in fresh:
            if item.event.type.startswith("security"):
                log.warning("device %s: security event %s %s", item.device.id, item.event.type,
                            item.event.data)
        await self._note_plays(verified)
        await self._advance_deliveries(verified, fresh)
        await self._acknowledge(verified)
        checks = sorted((v for v in fresh if v.event.type == "heard"), key=lambda v: v.event.ts)
        await on_heard(self.services, [(v.device, v.event.data) for v in checks])

    def _verify(self, batch: list[Arrived]) -> list[Verified]:
        with self.services.db.session() as session:
            ids = {arrived.device_id for arrived in batch}
            devices = {d.id: d for d in session.scalars(select(Device).where(Device.id.in_(ids)))}
            session.expunge_all()
        verified: dict[tuple[str, str, int], Verified] = {}
        for arrived in batch:
            topic = topics.device(arrived.device_id, DeviceTopic.EVENT)
            device = devices.get(arrived.device_id)
            try:
                item = _open(topic, device, arrived.payload)
            except (Rejected, ValidationError, ValueError) as exc:
                self.drop(topic, drop_reason(exc))
                continue
            verified.setdefault(item.key, item)  # the same event twice in a batch: once
        return list(verified.values())

    def _store(self, verified: list[Verified]) -> set[tuple[str, str, int]]:
        """Store the events not stored before, in one transaction; returns the keys stored now. When
        another controller stored one meanwhile, they are stored one at a time instead."""
        try:
            return self._store_together(verified)
        except IntegrityError:
            return {v.key for v in verified if self._store_one(v)}

    def _store_one(self, item: Verified) -> bool:
        try:
            with self.services.db.session() as session:
                session.execute(insert(StoredEvent), [_row(item)])
        except IntegrityError:
            return False
        return True

    def _store_together(self, verified: list[Verified]) -> set[tuple[str, str, int]]:
        keys = [v.key for v in verified]
        with self.services.db.session() as session:
            stored_before = set(session.execute(
                select(StoredEvent.device_id, StoredEvent.install_id, StoredEvent.seq).where(
                    tuple_(StoredEvent.device_id, StoredEvent.install_id, StoredEvent.seq).in_(keys))).all())
            rows = [_row(v) for v in verified if v.key not in stored_before]
            if rows:
                session.execute(insert(StoredEvent), rows)
        return {v.key for v in verified} - {tuple(k) for k in stored_before}

    async def _advance_deliveries(self, verified: list[Verified], fresh: list[Verified]) -> None:
        """Move deliveries on by every receipt, stored now or before: one stored while Redis could not
        be written was not acknowledged, and comes again for this. The feed tells only new ones."""
        every = [v for v in verified if v.event.type in delivery.RECEIPT_STATES]
        if not every:
            return
        await delivery.on_receipts(self.services.redis,
                                   [(v.device.id, v.event.type, v.event.data) for v in every])
        receipts = [v for v in fresh if v.event.type in delivery.RECEIPT_STATES]
        if not receipts:
            return
        described = self._describe({v.event.data.get("occurrence") for v in receipts})
        await feed.publish_many(self.services.redis, [
            ("receipt", [item.device.area_id], _receipt_news(item, described)) for item in receipts])

    async def _note_plays(self, verified: list[Verified]) -> None:
        """What each device plays now, moved by its starts and ends (kept in the playing index)."""
        plays = [PlayReceipt(v.device.id, occurrence[:64], v.event.type in PLAY_STARTS, v.event.ts)
                 for v in sorted(verified, key=lambda v: v.event.ts)
                 if v.event.type in PLAY_STARTS | PLAY_ENDS
                 and isinstance(occurrence := v.event.data.get("occurrence"), str)]
        await self.services.presence.note_plays(plays)

    def _describe(self, occurrence_ids: set[Any]) -> dict[str, tuple[str, str]]:
        """The title and level of each occurrence the controller knows."""
        wanted = [o[:64] for o in occurrence_ids if isinstance(o, str)]
        if not wanted:
            return {}
        with self.services.db.session() as session:
            return {occurrence_id: (title, level) for occurrence_id, title, level in session.execute(
                select(Occurrence.id, Occurrence.title, Occurrence.level).where(Occurrence.id.in_(wanted)))}

    async def _acknowledge(self, verified: list[Verified]) -> None:
        """One signed acknowledgement per device and installation, signed together, sent together."""
        seqs: dict[tuple[str, str], list[int]] = {}
        for item in verified:
            seqs.setdefault((item.device.id, item.event.install_id), []).append(item.event.seq)
        acks = [(topics.device(device_id, DeviceTopic.EVENT_ACK),
                 EventAck(install_id=install_id, seqs=sorted(numbers)).model_dump())
                for (device_id, install_id), numbers in seqs.items()]
        sealed = await self.services.signer.seal_many(acks, ACK_TTL_S)
        results = await asyncio.gather(*(self.services.link.publish(topic, payload, qos=1)
                                         for (topic, _), payload in zip(acks, sealed, strict=True)),
                                       return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            log.warning("%s of %s event acknowledgements not sent (%s); the devices will resend",
                        len(failed), len(results), failed[0])


def _receipt_news(item: Verified, described: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """A receipt as the event feed tells it: who, what happened, to which occurrence (its title and
    level), and when the device says it happened."""
    occurrence = str(item.event.data.get("occurrence", ""))
    title, level = described.get(occurrence, ("", ""))
    return {"device_id": item.device.id, "device_name": item.device.name, "receipt": item.event.type,
            "occurrence": occurrence, "title": title, "level": level, "occurred_at_ms": item.event.ts}


def _open(topic: str, device: Device | None, payload: bytes) -> Verified:
    """Check the event's signature against its device's enrolled key."""
    if device is None:
        raise Dropped("unknown_device")
    if not device.public_key:
        raise Dropped("not_enrolled")
    device_key = public_from_text(device.public_key)
    opened = open_device_message(topic, payload, lambda kid: device_key if kid == device.key_id else None)
    envelope = payload.decode("utf-8")  # JSON on the wire is UTF-8; anything else is dropped as malformed
    return Verified(device, DeviceEvent.model_validate(opened.body), opened.signature, envelope)


def drop_reason(exc: Exception) -> str:
    """Why a device message is not acted on: its code first (counted), then what was wrong."""
    if isinstance(exc, ValidationError):
        return f"invalid: {exc.errors()[0]['msg']}"[:200]
    if isinstance(exc, Rejected | Dropped):
        return str(exc)
    return f"malformed: {exc}"[:200]


def _row(item: Verified) -> dict[str, Any]:
    event = item.event
    return {"device_id": item.device.id, "install_id": event.install_id, "seq": event.seq, "type": event.type,
            "occurred_at": datetime.fromtimestamp(event.ts / 1000, UTC), "received_at": datetime.now(UTC),
            "data": event.data, "signature": item.signature, "envelope": item.envelope}
