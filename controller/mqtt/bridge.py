"""Handlers for everything devices publish, and the controller's own presence.

Every handler validates its input and drops what is malformed with a log line and a
counter; one bad message never stops the others. A device's word is trusted only about itself:
a birth makes the controller publish again only the states of the device's own chain (its area
and those above it, by the controller's records), and each device is limited alone in what it
may send (DEVICE_LIMITS, applied by the link's inbox; floods.py tells an operator).
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loalang_protocol import PROTOCOL_VERSION, topics
from loalang_protocol.envelope import Rejected
from loalang_protocol.inbox import SourceLimit
from loalang_protocol.messages import (
    ClockReply,
    ClockRequest,
    CommandReply,
    ControllerState,
    DeviceStatus,
    Reported,
    Telemetry,
)
from loalang_protocol.mqtt import NotConnected
from loalang_protocol.topics import DeviceTopic

from ..broadcasting import delivery
from ..context import Services
from ..db.models import Area, Device
from ..fleet import commands, desired, history
from ..fleet.areas import MAX_DEPTH
from ..redis_client import UNREACHABLE
from .batching import Batches
from .events import Dropped, EventIntake, drop_reason
from .floods import FloodWatch
from .resync import AreaResync

log = logging.getLogger(__name__)

MAX_DEVICE_PAYLOAD = 64 * 1024
HEARD_FLUSH_S = 0.25  # a device heard from is in presence this soon (the watchdog allows 1.5 keepalives)
RETAINED_LEAVES = (DeviceTopic.STATUS, DeviceTopic.REPORTED)  # what the broker holds for each device


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


KEPT_LEAVES = {"/" + leaf.value: leaf.value for leaf in (
    DeviceTopic.STATUS, DeviceTopic.EVENT, DeviceTopic.REPLY, DeviceTopic.REPORTED)}
DEVICE_LIMITS = {  # per device, far above what a sound board sends (see docs/protocol.md)
    DeviceTopic.STATUS.value: SourceLimit(rate=0.5, burst=20),  # a birth and a will per connection
    DeviceTopic.EVENT.value: SourceLimit(rate=20.0, burst=500),  # a backlog of receipts at reconnection
    DeviceTopic.REPLY.value: SourceLimit(rate=5.0, burst=60),  # one a command: a technician's checks in a row
    DeviceTopic.REPORTED.value: SourceLimit(rate=2.0, burst=20),
}


def kept_class(topic: str) -> str | None:
    """The class of what a device sends that is kept (births, events, replies, reports), each
    limited per device by DEVICE_LIMITS."""
    if not topic.startswith(topics.PREFIX + "/dev/"):
        return None
    for leaf, kind in KEPT_LEAVES.items():
        if topic.endswith(leaf):
            return kind
    return None


def sender(topic: str) -> str | None:
    """The device that published on a device topic (each is limited alone when it floods)."""
    parsed = topics.parse(topic)
    return parsed.ident if parsed is not None and parsed.family == "dev" else None


def _micros() -> int:
    return time.time_ns() // 1000


def own_chain(session: Session, area_id: str) -> dict[str, int]:
    """The area and those above it, by the controller's records, with their desired versions."""
    chain: dict[str, int] = {}
    current = session.get(Area, area_id)
    while current is not None and current.id not in chain and len(chain) <= MAX_DEPTH:
        chain[current.id] = current.desired_version
        current = session.get(Area, current.parent_id) if current.parent_id is not None else None
    return chain


# What the controller subscribes to at QoS 1 is only what a device sends once and may not lose on the
# way (events, until acknowledged; the reported state). The rest is retained (statuses), sent again
# (clock requests, telemetry) or waited for by an API call a few seconds at most (replies): QoS 0
# costs nothing there, and on a NATS cluster a QoS 1 subscription is a JetStream consumer, which a
# node that lost a peer refuses for a while. Seen: the reply subscription refused for over 30 s on a
# loaded machine, no command answered meanwhile.
SUBSCRIBE_QOS = {DeviceTopic.STATUS: 0, DeviceTopic.TELEMETRY: 0, DeviceTopic.REPORTED: 1,
                 DeviceTopic.EVENT: 1, DeviceTopic.REPLY: 0, DeviceTopic.CLOCK_REQUEST: 0}


class DeviceBridge:
    """Routes device topics to their handlers."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.events = EventIntake(services, lambda topic, reason: self._drop("event", topic, reason))
        self._heard: dict[str, int] = {}  # device -> when last heard, written to presence in batches
        self.reports: Batches[tuple[str, Reported]] = Batches("reports", self._keep_reports)
        self.resync = AreaResync(partial(desired.publish_area, services))
        self.floods = FloodWatch(services)
        link = services.link
        link.inbox.on_flood = self.floods.note
        link.on_arrival = self._note_arrival
        handlers = {
            DeviceTopic.STATUS: self.on_status,
            DeviceTopic.TELEMETRY: self.on_telemetry,
            DeviceTopic.REPORTED: self.on_reported,
            DeviceTopic.EVENT: self.on_event,
            DeviceTopic.REPLY: self.on_reply,
            DeviceTopic.CLOCK_REQUEST: self.on_clock_request,
        }
        for leaf, handler in handlers.items():
            link.route(topics.all_devices(leaf), self._guarded(leaf.value, handler), qos=SUBSCRIBE_QOS[leaf])

    async def run(self) -> None:
        """The bridge's background work until cancelled: device events and reports in batches, when
        each device was last heard from (written every HEARD_FLUSH_S), the areas births showed stale,
        and the floods to tell."""
        await asyncio.gather(self.events.run(), self.reports.run(), self._write_heard(), self.resync.run(),
                             self.floods.run())

    async def _write_heard(self) -> None:
        while True:
            await asyncio.sleep(HEARD_FLUSH_S)
            heard, self._heard = self._heard, {}
            try:
                await self.services.presence.touch_many(heard)
            except UNREACHABLE:
                pass  # the watchdog tells once that Redis is gone
            except Exception:
                log.exception("presence of %s devices not written; next time", len(heard))

    def _note_arrival(self, topic: str) -> None:
        """A device was heard from when its message came off the socket, not when it was handled: a
        controller behind on its inbox (or shedding telemetry) must not take its own delay for the
        device's silence. The broker lets only the device publish on its topics; a birth or will
        (status) may be the broker's, so it is not a sign of life."""
        parsed = topics.parse(topic)
        if parsed is not None and parsed.family == "dev" and parsed.leaf != DeviceTopic.STATUS.value:
            self._heard[parsed.ident] = _micros() // 1000

    def _guarded(self, name: str, handler: Any) -> Any:
        async def run(topic: str, payload: bytes, retained: bool) -> None:
            try:
                parsed = topics.parse(topic)
                if parsed is None or parsed.family != "dev":
                    raise Dropped("bad_topic")
                if len(payload) > MAX_DEVICE_PAYLOAD:
                    raise Dropped("oversized")
                await handler(parsed.ident, payload, retained)
            except (Rejected, ValueError) as exc:  # Dropped, ValidationError and UnicodeDecodeError too
                self._drop(name, topic, drop_reason(exc))
            except UNREACHABLE:  # counted, not logged: the watchdog tells once that Redis is gone, and
                # asks for the births and reports lost meanwhile again when it is back
                self.services.counters.add(f"dropped.{name}.redis_unavailable")
                if name == DeviceTopic.STATUS.value:
                    self.services.presence.note_unwritten()
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
        """Publish again what the birth shows stale: the device's own state, and the areas of its
        own chain that it names; areas outside its chain are ignored, counted."""
        if status.held.device < device.desired_version:
            await desired.publish_device(self.services, device.id)
        with self.services.db.session() as session:
            chain = own_chain(session, device.area_id)
            foreign = status.held.areas.keys() - chain.keys()
            if foreign:
                self.services.counters.add("ignored.status.foreign_area", len(foreign))
                log.info("device %s: birth names %s areas outside its own; ignored", device.id, len(foreign))
        self.resync.want(a for a, held in status.held.areas.items() if a in chain and held < chain[a])

    async def on_telemetry(self, device_id: str, payload: bytes, retained: bool) -> None:
        """Keep the latest telemetry; a device whose presence Redis lost is online again."""
        telemetry = Telemetry.model_validate_json(payload)
        self._known(device_id)
        now_ms = _micros() // 1000
        if await self.services.presence.store_telemetry(device_id, telemetry, now_ms):
            log.info("device %s: online (heard from; its presence was lost with Redis)", device_id)
            await history.note_presence(self.services, device_id, True, now_ms, "heard")
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
        try:
            await self.services.presence.store_reported_many(newest)
            await delivery.on_reports(self.services.redis, [
                (device_id, reported.applied.device, dict(reported.applied.areas))
                for device_id, reported in batch if device_id in known])
        except UNREACHABLE:  # asked for again when Redis is back, like births
            self.services.counters.add("dropped.reported.redis_unavailable", len(batch))
            self.services.presence.note_unwritten()

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
    """Keep presence true every interval_s: see PresenceWatchdog."""
    await PresenceWatchdog(services).run(interval_s)


class PresenceWatchdog:
    """Marks offline the devices silent for longer than 1.5 keepalives (devices send at least once
    per keepalive), and rebuilds presence when Redis lost it.

    Redis lost presence when the marker it keeps is gone (restarted without its data, flushed), or
    when it did not answer (a birth, will or report of that time was not written). Then
    the controller subscribes again to the devices' retained topics, and the broker sends every
    device's latest birth or will and report again, as at a controller's start; they are applied
    under the usual ordering rules. Telemetry alone already brings a connected device back online
    (on_telemetry); the births add its connection, and the wills of the devices that are gone.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self.silence_ms = int(1500 * services.settings.device_keepalive_s)
        self.started = False
        self.unreachable = False
        self.rebuild = False

    async def run(self, interval_s: float) -> None:
        """Step every interval_s until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.step()
            except Exception:
                log.exception("presence watchdog failed; retrying")

    async def step(self) -> None:
        """One look: was presence lost, which devices fell silent, and a rebuild when one is due."""
        try:
            await self._check_kept()
            await self._expire_silent()
        except UNREACHABLE as exc:
            if not self.unreachable:
                log.warning("Redis unreachable (%s): presence is rebuilt when it answers again", exc)
            self.unreachable = True
            return
        if self.rebuild:
            await self._ask_for_births()

    async def _check_kept(self) -> None:
        emptied = await self.services.presence.mark_kept(_micros() // 1000) and self.started
        unwritten = self.services.presence.take_unwritten()
        if self.unreachable:
            log.warning("Redis reachable again; rebuilding presence")
        elif emptied:  # (at start, the first subscription brings every birth anyway)
            log.warning("Redis lost presence (restarted without its data, or flushed); rebuilding it")
        elif unwritten:
            log.warning("births or reports were not written while Redis did not answer; rebuilding presence")
        self.rebuild = self.rebuild or self.unreachable or emptied or unwritten
        self.unreachable, self.started = False, True

    async def _expire_silent(self) -> None:
        if not self._heard_long_enough():
            return  # the controller's own deafness is not the devices' silence
        for device_id in await self.services.presence.expire_silent(_micros() // 1000, self.silence_ms):
            log.info("device %s: offline (silent for %.1f s)", device_id, self.silence_ms / 1000)
            await history.note_presence(self.services, device_id, False, _micros() // 1000, "silent")

    def _heard_long_enough(self) -> bool:
        """Whether the controller's own link has been up for a whole silence: while it is down, or
        back for less, a device it did not hear may have spoken (a broker restart or a lost node would
        otherwise mark the whole fleet offline and open an incident for every device)."""
        link = self.services.link
        if not link.connected.is_set() or link.connected_at is None:
            return False
        return (time.time() - link.connected_at) * 1000 >= self.silence_ms

    async def _ask_for_births(self) -> None:
        """Subscribe again to the retained device topics: the broker sends what they hold again. (A
        link that is down subscribes again when it reconnects, with the same effect.)"""
        link = self.services.link
        try:
            if link.connected.is_set():
                for leaf in RETAINED_LEAVES:
                    await link.subscribe(topics.all_devices(leaf))
        except (NotConnected, TimeoutError) as exc:
            log.warning("presence: asking the broker for the retained births failed (%s); next time", exc)
            return
        self.rebuild = False


def controller_state(instance_id: str, online: bool) -> bytes:
    """Payload of this instance's retained state topic."""
    state = ControllerState(online=online, instance=instance_id, ts=_micros() // 1000)
    return state.model_dump_json().encode()
