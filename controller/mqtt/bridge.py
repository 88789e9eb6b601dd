"""Handlers for everything devices publish, and the controller's own presence.

Every handler validates its input and drops what is malformed with a log line and a
counter; one bad message never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from loalang_protocol import PROTOCOL_VERSION, topics
from loalang_protocol.envelope import Rejected, open_device_message
from loalang_protocol.keys import public_from_text
from loalang_protocol.messages import (
    ClockReply,
    ClockRequest,
    CommandReply,
    ControllerState,
    DeviceEvent,
    DeviceStatus,
    EventAck,
    Reported,
    Telemetry,
)
from loalang_protocol.topics import DeviceTopic

from .. import feed
from ..broadcasting import delivery
from ..context import Services
from ..db.models import Area, Device, Occurrence
from ..db.models import DeviceEvent as StoredEvent
from ..fleet import commands, desired, history

log = logging.getLogger(__name__)

MAX_DEVICE_PAYLOAD = 64 * 1024
RESYNC_DEBOUNCE_S = 1.0
ACK_TTL_S = 3600


SHEDDABLE = {"/" + DeviceTopic.TELEMETRY.value: "telemetry", "/" + DeviceTopic.CLOCK_REQUEST.value: "clock"}


def sheddable(topic: str) -> str | None:
    """What the controller may shed under load: telemetry (the next sample replaces it) and clock
    requests (the agent asks again); receipts, reports, presence and replies are always kept."""
    if not topic.startswith(topics.PREFIX + "/dev/"):
        return None
    for leaf, kind in SHEDDABLE.items():
        if topic.endswith(leaf):
            return kind
    return None


class Dropped(ValueError):
    """A device message that is not acted on; reason goes to the counters."""


def _micros() -> int:
    return time.time_ns() // 1000


class DeviceBridge:
    """Routes device topics to their handlers."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._stale_areas: set[str] = set()
        self._resync_task: asyncio.Task[None] | None = None
        link = services.link
        handlers = {
            DeviceTopic.STATUS: self.on_status,
            DeviceTopic.TELEMETRY: self.on_telemetry,
            DeviceTopic.REPORTED: self.on_reported,
            DeviceTopic.EVENT: self.on_event,
            DeviceTopic.REPLY: self.on_reply,
            DeviceTopic.CLOCK_REQUEST: self.on_clock_request,
        }
        for leaf, handler in handlers.items():
            link.route(topics.all_devices(leaf), self._guarded(leaf.value, handler))

    def _guarded(self, name: str, handler: Any) -> Any:
        async def run(topic: str, payload: bytes, retained: bool) -> None:
            try:
                parsed = topics.parse(topic)
                if parsed is None or parsed.family != "dev":
                    raise Dropped("bad_topic")
                if len(payload) > MAX_DEVICE_PAYLOAD:
                    raise Dropped("oversized")
                await handler(parsed.ident, payload, retained)
                if not retained and name != "status":
                    await self.services.presence.touch(parsed.ident, _micros() // 1000)
            except (Dropped, Rejected) as exc:
                self._drop(name, topic, str(exc))
            except ValidationError as exc:
                self._drop(name, topic, f"invalid: {exc.errors()[0]['msg']}"[:200])
            except (ValueError, UnicodeDecodeError) as exc:
                self._drop(name, topic, f"malformed: {exc}"[:200])
        return run

    def _drop(self, name: str, topic: str, reason: str) -> None:
        code = reason.split(":", 1)[0]
        self.services.counters.add(f"dropped.{name}.{code}")
        log.warning("dropped message on %s: %s", topic, reason)

    def _title_of(self, occurrence_id: object) -> str:
        """The title of the occurrence a receipt is about ("" when unknown)."""
        if not isinstance(occurrence_id, str):
            return ""
        with self.services.db.session() as session:
            occurrence = session.get(Occurrence, occurrence_id[:64])
            return occurrence.title if occurrence is not None else ""

    def _known(self, device_id: str) -> Device:
        with self.services.db.session() as session:
            device = session.get(Device, device_id)
        if device is None:
            raise Dropped("unknown_device")
        return device

    # -- presence ------------------------------------------------------------------------

    async def on_status(self, device_id: str, payload: bytes, retained: bool) -> None:
        """Birth or last will: update presence, and resend whatever desired state is stale."""
        if not payload:
            return  # a cleared retained status
        status = DeviceStatus.model_validate_json(payload)
        if status.protocol != PROTOCOL_VERSION:
            raise Dropped(f"unsupported_version: protocol {status.protocol}")
        device = self._known(device_id)
        applied = await self.services.presence.apply_status(device_id, status, _micros() // 1000)
        if not applied:
            log.info("device %s: late status of an older connection ignored", device_id)
            return
        log.info("device %s: %s (boot %s, connection %s)", device_id,
                 "online" if status.online else "offline", status.boot, status.conn)
        await history.note_presence(self.services, device_id, status.online, _micros() // 1000,
                                    "birth" if status.online else "will")
        if status.online:
            await self._resync(device, status)

    async def _resync(self, device: Device, status: DeviceStatus) -> None:
        if status.held.device < device.desired_version:
            await desired.publish_device(self.services, device.id)
        with self.services.db.session() as session:
            versions = {a.id: a.desired_version for a in session.query(Area).filter(
                Area.id.in_(list(status.held.areas) or [""]))}
        stale = {a for a, v in versions.items() if status.held.areas.get(a, 0) < v}
        if stale:
            self._stale_areas |= stale
            if self._resync_task is None or self._resync_task.done():
                self._resync_task = asyncio.create_task(self._flush_stale_areas())

    async def _flush_stale_areas(self) -> None:
        await asyncio.sleep(RESYNC_DEBOUNCE_S)
        stale, self._stale_areas = self._stale_areas, set()
        for area_id in sorted(stale):
            await desired.publish_area(self.services, area_id)

    async def on_telemetry(self, device_id: str, payload: bytes, retained: bool) -> None:
        """Keep the latest telemetry."""
        telemetry = Telemetry.model_validate_json(payload)
        self._known(device_id)
        await self.services.presence.store_telemetry(device_id, telemetry)
        await history.note_telemetry(self.services, device_id, telemetry)

    async def on_reported(self, device_id: str, payload: bytes, retained: bool) -> None:
        """Keep the versions the device applied."""
        if not payload:
            return
        reported = Reported.model_validate_json(payload)
        self._known(device_id)
        await self.services.presence.store_reported(device_id, reported)
        await delivery.on_reported(self.services.redis, device_id, reported.applied.device,
                                   dict(reported.applied.areas))

    async def on_reply(self, device_id: str, payload: bytes, retained: bool) -> None:
        """Keep a reply to a command."""
        reply = CommandReply.model_validate_json(payload)
        self._known(device_id)
        await commands.store_reply(self.services, device_id, reply)

    # -- signed device events ------------------------------------------------------------

    async def on_event(self, device_id: str, payload: bytes, retained: bool) -> None:
        """Verify a device's signed event, store it exactly once and acknowledge it."""
        device = self._known(device_id)
        if not device.public_key:
            raise Dropped("not_enrolled")
        device_key: Ed25519PublicKey = public_from_text(device.public_key)
        topic = topics.device(device_id, DeviceTopic.EVENT)
        opened = open_device_message(topic, payload, lambda kid: device_key if kid == device.key_id else None)
        event = DeviceEvent.model_validate(opened.body)
        if self._store_event(device_id, event, opened.signature):
            await delivery.on_receipt(self.services.redis, device_id, event.type, event.data)
            if event.type in delivery.RECEIPT_STATES:
                await feed.publish(self.services.redis, "receipt", [device.area_id], device_id=device_id,
                                   device_name=device.name, receipt=event.type,
                                   title=self._title_of(event.data.get("occurrence")))
        ack_topic = topics.device(device_id, DeviceTopic.EVENT_ACK)
        ack = EventAck(install_id=event.install_id, seqs=[event.seq])
        await self.services.link.publish(
            ack_topic, await self.services.signer.seal(ack_topic, ack.model_dump(), ACK_TTL_S), qos=1
        )

    def _store_event(self, device_id: str, event: DeviceEvent, signature: str) -> bool:
        """Store an event once; False when it was stored before (a resend)."""
        row = StoredEvent(
            device_id=device_id, install_id=event.install_id, seq=event.seq, type=event.type,
            occurred_at=datetime.fromtimestamp(event.ts / 1000, UTC), data=event.data, signature=signature,
        )
        try:
            with self.services.db.session() as session:
                session.add(row)
        except IntegrityError:
            log.info("device %s: event %s/%s already stored", device_id, event.install_id, event.seq)
            return False
        if event.type.startswith("security"):
            log.warning("device %s: security event %s %s", device_id, event.type, event.data)
        return True

    # -- clock ---------------------------------------------------------------------------

    async def on_clock_request(self, device_id: str, payload: bytes, retained: bool) -> None:
        """Answer a clock request with signed receive and send times tied to its nonce."""
        received = _micros()
        request = ClockRequest.model_validate_json(payload)
        topic = topics.device(device_id, DeviceTopic.CLOCK_REPLY)
        reply = ClockReply(nonce=request.nonce, t0_us=request.t0_us, t1_us=received, t2_us=_micros())
        await self.services.link.publish(
            topic, await self.services.signer.seal(topic, reply.model_dump(), 30), qos=0
        )


async def presence_watchdog(services: Services, interval_s: float = 1.0) -> None:
    """Mark offline the devices silent for longer than 1.5 keepalives.

    Devices send at least once per keepalive.
    """
    silence_ms = int(1500 * services.settings.device_keepalive_s)
    while True:
        await asyncio.sleep(interval_s)
        try:
            for device_id in await services.presence.expire_silent(_micros() // 1000, silence_ms):
                log.info("device %s: offline (silent for %.1f s)", device_id, silence_ms / 1000)
                await history.note_presence(services, device_id, False, _micros() // 1000, "silent")
        except Exception:
            log.exception("presence watchdog failed; retrying")


def controller_state(instance_id: str, online: bool) -> bytes:
    """Payload of this instance's retained state topic."""
    state = ControllerState(online=online, instance=instance_id, ts=_micros() // 1000)
    return state.model_dump_json().encode()
