"""Handlers for everything devices publish, and the controller's own presence.

Every handler validates its input and drops what is malformed with a log line and a
counter; one bad message never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sqlalchemy import select

from loalang_protocol import PROTOCOL_VERSION, topics
from loalang_protocol.envelope import Rejected
from loalang_protocol.messages import (
    ClockReply,
    ClockRequest,
    CommandReply,
    ControllerState,
    DeviceStatus,
    Reported,
    Telemetry,
)
from loalang_protocol.topics import DeviceTopic

from ..broadcasting import delivery
from ..context import Services
from ..db.models import Area, Device
from ..fleet import commands, desired, history
from .batching import Batches
from .events import Dropped, EventIntake, drop_reason

log = logging.getLogger(__name__)

MAX_DEVICE_PAYLOAD = 64 * 1024
RESYNC_DEBOUNCE_S = 1.0
HEARD_FLUSH_S = 0.25  # a device heard from is in presence this soon (the watchdog allows 1.5 keepalives)


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


def sender(topic: str) -> str | None:
    """The device that published on a device topic (each is limited alone when it floods)."""
    parsed = topics.parse(topic)
    return parsed.ident if parsed is not None and parsed.family == "dev" else None


def _micros() -> int:
    return time.time_ns() // 1000


class DeviceBridge:
    """Routes device topics to their handlers."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.events = EventIntake(services, lambda topic, reason: self._drop("event", topic, reason))
        self._heard: dict[str, int] = {}  # device -> when last heard, written to presence in batches
        self.reports: Batches[tuple[str, Reported]] = Batches("reports", self._keep_reports)
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

    async def run(self) -> None:
        """The bridge's background work until cancelled: device events and reports in batches, and
        when each device was last heard from, written every HEARD_FLUSH_S."""
        await asyncio.gather(self.events.run(), self.reports.run(), self._write_heard())

    async def _write_heard(self) -> None:
        while True:
            await asyncio.sleep(HEARD_FLUSH_S)
            heard, self._heard = self._heard, {}
            try:
                await self.services.presence.touch_many(heard)
            except Exception:
                log.exception("presence of %s devices not written; next time", len(heard))

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
                    self._heard[parsed.ident] = _micros() // 1000
            except (Rejected, ValueError) as exc:  # Dropped, ValidationError and UnicodeDecodeError too
                self._drop(name, topic, drop_reason(exc))
        return run

    def _drop(self, name: str, topic: str, reason: str) -> None:
        code = reason.split(":", 1)[0]
        self.services.counters.add(f"dropped.{name}.{code}")
        log.warning("dropped message on %s: %s", topic, reason)

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
        """Queue the versions the device applied: kept and acknowledged in batches."""
        if not payload:
            return
        await self.reports.put((device_id, Reported.model_validate_json(payload)))

    async def _keep_reports(self, batch: list[tuple[str, Reported]]) -> None:
        """Keep each device's newest report, and acknowledge the broadcasts the reports carry."""
        with self.services.db.session() as session:
            known = set(session.scalars(select(Device.id).where(Device.id.in_({d for d, _ in batch}))))
        newest: dict[str, Reported] = {}
        for device_id, reported in batch:
            if device_id in known:
                newest[device_id] = reported
            else:
                self._drop("reported", topics.device(device_id, DeviceTopic.REPORTED), "unknown_device")
        await self.services.presence.store_reported_many(newest)
        await delivery.on_reports(self.services.redis, [
            (device_id, reported.applied.device, dict(reported.applied.areas))
            for device_id, reported in batch if device_id in known])

    async def on_reply(self, device_id: str, payload: bytes, retained: bool) -> None:
        """Keep a reply to a command."""
        reply = CommandReply.model_validate_json(payload)
        self._known(device_id)
        await commands.store_reply(self.services, device_id, reply)

    # -- signed device events ------------------------------------------------------------

    async def on_event(self, device_id: str, payload: bytes, retained: bool) -> None:
        """Queue a device's signed event: events.py verifies, stores and acknowledges in batches."""
        await self.events.submit(device_id, payload)

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
