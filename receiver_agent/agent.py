"""The receiver agent: a state machine that converges to the controller's signed desired state.

On every (re)connect it subscribes, publishes its birth (boot counter, install id and the
desired-state versions it holds) and resends unacknowledged events. Everything addressed to
it must be signed by a key the root certified, be unexpired and newer than what it saw on
that topic; anything else is dropped and reported as a security event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from loalang_protocol import envelope, topics
from loalang_protocol.envelope import ControllerVerifier, Opened, Rejected, ReplayGuard
from loalang_protocol.http_auth import sign_request
from loalang_protocol.keys import KeyPair, public_from_text
from loalang_protocol.messages import (
    ClockReply,
    Command,
    CommandReply,
    ControllerState,
    DesiredState,
    DeviceStatus,
    EventAck,
    HeldVersions,
    Reported,
    Telemetry,
)
from loalang_protocol.mqtt import Backoff, LinkSettings, MqttLink, NotConnected
from loalang_protocol.releases import MAX_RELEASE_BYTES
from loalang_protocol.topics import AreaTopic, DeviceTopic

from . import __version__, controller_http, health, logbuffer, login_renewal, status_page, systemd, telemetry
from .amplifier import Amplifier
from .audio.microphone import Microphone
from .audio.sink import AudioSink
from .audio.tone import sine
from .broker_addresses import take_addresses
from .broker_login import renew
from .clock import FIRST_INTERVAL_S, WARMUP_SAMPLES, ClockSync
from .config import AgentConfig
from .media import attention
from .media.cache import MediaCache
from .modem import Modem
from .outbox import Outbox
from .playout.engine import Engine
from .playout.schedule import Schedule
from .relays import make_relay
from .revocations import Revocations
from .state import AgentState
from .storage import WRITER, write_json
from .streams import StreamReceiver
from .timekeeper import TimeKeeper, system_clock_synchronised
from .updates.installer import Installer, install_root
from .updates.manager import Updates
from .waiting import wait_at_most

log = logging.getLogger(__name__)

MAX_SECURITY_EVENTS_PER_MINUTE = 20
MAX_TONE_SECONDS = 10.0
REBIRTH_WINDOW_S = 3.0
SUBSCRIBE_QOS = 0
"""Everything an agent subscribes to is taken at QoS 0. Its sessions are clean (docs/protocol.md):
nothing is queued for it while it is away, and a QoS 1 delivery cut by a lost connection is not
sent again on the next one either, so QoS 1 would add nothing over the connection's own TCP
ordering and delivery. What must survive a reconnection is retained (desired states, controller
states, revocation lists: every connection subscribes again and gets the newest copy) or asked for
again (events are resent until acknowledged, clock requests repeat); a command cut by a lost
connection is lost as it always was. On a NATS cluster each QoS 1 subscription is moreover a
replicated JetStream consumer: about half a second to make on the test machine, deleted and made
again at every reconnection, and 1,000 receivers' consumers did not fit (docs/nats.md)."""
MAX_LOG_UPLOAD_BYTES = 256 * 1024
LIVE_CLOCK_INTERVAL_S = 10.0
UNANSWERED_CAP_S = 60.0  # the longest wait between clock requests while none is answered
RESEND_EVERY_S = 30.0  # unacknowledged events are looked at this often while connected...
RESEND_AFTER_S = 60.0  # ...and sent again once they are this old
PERIOD_JITTER = 0.25  # periodic work waits 75-100% of its period
# A message signed this little before the newest one seen is not taken for a replay: an emergency
# signed a moment before a clock reply may still arrive after it, and must not wait for the time.
FRESH_MARGIN_MS = 10_000


class Agent:
    """One receiver: its MQTT link, state, outbox and audio sink."""

    def __init__(self, config: AgentConfig, sink: AudioSink, backoff: Backoff | None = None,
                 config_path: Path | None = None, microphone: Microphone | None = None) -> None:
        self.config = config
        self.config_path = config_path  # where desired state writes what it changes in the configuration
        self.sink = sink
        self.microphone = microphone
        self.device_id = config.device_id
        self.state = AgentState.load(config.data_dir / "state.json")
        self.key = KeyPair.load(config.key_file)
        self.verifier = ControllerVerifier(public_from_text(config.root_public_key))
        self.revocations = Revocations(self.state, self.verifier, self.device_id)
        self.guard = ReplayGuard(self.state.replay)
        self.state.replay = self.guard.state
        self.outbox = Outbox(config.data_dir / "outbox", self.device_id, self.key, self.state)
        self.clock = ClockSync()
        self.time = TimeKeeper(self.clock, system_clock_synchronised)
        self.schedule = Schedule(config.data_dir / "schedule.json")
        self.amplifier = Amplifier(make_relay(config), config.amplifier.lead_s, config.amplifier.hold_s)
        self.engine = Engine(
            schedule=self.schedule,
            cache=MediaCache(config.data_dir / "cache", config.controller_url, self.device_id, self.key,
                             quota_bytes=int(config.cache_quota_mb * 1_000_000),
                             controller_ca_file=config.controller_ca_file),
            sink=sink, amplifier=self.amplifier, timekeeper=self.time, record=self.record_event,
            attention=attention.ensure(config.data_dir / "attention"),
            volume=lambda: self.state.volume if self.state.volume is not None else 70,
            emergency_floor=config.emergency_volume_floor, decode=config.audio.sink != "null",
            microphone=microphone,
        )
        self.areas: list[str] = list(self.state.areas or config.areas)
        self.updates = Updates(self._installer(), __version__, self.record_event, self._quiet_for,
                               self._restart_for_update, config.update_quiet_gap_s)
        self.restart_requested = False  # the run ended to start again into a new release
        self.modem = Modem()
        self.started = time.monotonic()
        self.started_at = time.time()  # for doctor: an agent that just started has no clock reply yet
        self.connection = 0
        self._connected_ms = 0
        self.rejected = 0
        self.dropped = 0
        self.bytes_received = 0
        self._data_counted = 0
        self._security_times: deque[float] = deque(maxlen=MAX_SECURITY_EVENTS_PER_MINUTE)
        self._recent_commands: deque[str] = deque(maxlen=256)
        self._controllers_online: dict[str, int] = {}  # instance -> the time of its online state
        self._rebirth: asyncio.Task[None] | None = None
        self._ask_clock_now = asyncio.Event()  # cuts the clock loop's wait short
        self._record_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._link_task: asyncio.Task[None] | None = None
        self._engine_task: asyncio.Task[None] | None = None
        broker = config.broker
        self.link = self._make_link(backoff or Backoff(window=broker.reconnect_window_s,
                                                       cap=broker.reconnect_cap_s))
        self.streams = StreamReceiver(self.link, self.schedule, self.time.now_ms, self._reject)
        self.engine.streams = self.streams
        self.streams.on_chunk = self.engine.on_stream_chunk

    def _make_link(self, backoff: Backoff) -> MqttLink:
        b = self.config.broker
        link = MqttLink(LinkSettings(
            host=b.host, port=b.port, client_id=b.client_id, username=b.username, password=b.password,
            keepalive=b.keepalive, tls_ca_file=b.tls_ca_file, backoff=backoff,
            addresses=tuple(b.broker_addresses()),
        ))
        link.before_connect = self._before_connect
        link.on_connected = self._on_connected
        self._route_device_topics(link)
        for area_id in self.areas:
            self._route_area(link, area_id)
        link.route(topics.ALL_CONTROLLER_STATES, self.on_controller_state, qos=SUBSCRIBE_QOS)
        link.route(self.revocations.topic, self._counted(self.on_revocations), qos=SUBSCRIBE_QOS)
        return link

    def _route_device_topics(self, link: MqttLink) -> None:
        routes = {
            DeviceTopic.DESIRED: self.on_device_desired,
            DeviceTopic.COMMAND: self.on_command,
            DeviceTopic.EVENT_ACK: self.on_event_ack,
            DeviceTopic.CLOCK_REPLY: self.on_clock_reply,
        }
        for leaf, handler in routes.items():
            link.route(topics.device(self.device_id, leaf), self._counted(handler), qos=SUBSCRIBE_QOS)

    def _route_area(self, link: MqttLink, area_id: str) -> None:
        handlers = {AreaTopic.DESIRED: self.on_area_desired, AreaTopic.COMMAND: self.on_command}
        for leaf, handler in handlers.items():
            link.route(topics.area(area_id, leaf), self._counted(handler), qos=SUBSCRIBE_QOS)

    def _counted(self, handler: Any) -> Any:
        async def run(topic: str, payload: bytes, retained: bool) -> None:
            self.bytes_received += len(payload)
            await handler(topic, payload, retained)
        return run

    def data_usage(self) -> tuple[str, int]:
        """This month's data: what the broker connection carried (payloads plus MQTT and TCP/IP overhead
        estimated at 60 bytes a message) and the media downloaded; kept across restarts."""
        month = time.strftime("%Y-%m", time.gmtime())
        if self.state.data_month != month:
            self.state.data_month, self.state.data_month_bytes = month, 0
        link = self.link
        counted = self.bytes_received + link.bytes_sent + 60 * (link.messages_in + link.messages_out)
        counted += self.engine.cache.downloaded_bytes + self.streams.counters.bytes
        self.state.data_month_bytes += counted - self._data_counted
        self._data_counted = counted
        return month, self.state.data_month_bytes

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until stopped; raises AuthenticationFailed when the broker refuses the device."""
        boot = self.state.next_boot()
        log.info("device %s: agent %s starting, boot %s, install %s", self.device_id, __version__, boot,
                 self.state.install_id)
        self.sink.set_volume(self.state.volume if self.state.volume is not None else 70)
        self._engine_task = asyncio.create_task(self.engine.run())
        self._tasks = [
            asyncio.create_task(self._telemetry_loop()),
            asyncio.create_task(self._clock_loop()),
            asyncio.create_task(self._resend_loop()),
            self._engine_task,
            asyncio.create_task(self._status_page()),
            asyncio.create_task(self._login_renewal_loop()),
            asyncio.create_task(self.updates.run()),
            asyncio.create_task(systemd.feed_watchdog(self._engine_running)),
        ]
        systemd.notify(f"READY=1\nSTATUS=agent {__version__} running")
        await self.updates.report_rollback()
        self._link_task = asyncio.create_task(self.link.run())
        try:
            await self._link_task
        except asyncio.CancelledError:
            if not self.restart_requested:
                raise
        finally:
            for task in self._tasks:
                task.cancel()

    def _installer(self) -> Installer | None:
        root = install_root()
        if root is None:
            return None
        downloads = MediaCache(self.config.data_dir / "releases", self.config.controller_url, self.device_id,
                               self.key, quota_bytes=2 * MAX_RELEASE_BYTES,
                               controller_ca_file=self.config.controller_ca_file, url_prefix="/releases")
        return Installer(root, downloads, public_from_text(self.config.root_public_key),
                         lambda: frozenset(self.verifier.revoked), __version__)

    def _quiet_for(self, seconds: float) -> bool:
        """Quiet now (nothing plays, no stream) and nothing scheduled to start within seconds."""
        upcoming = self.engine.next_item()
        soon = upcoming is not None and upcoming.start_ms < self.time.now_ms() + seconds * 1000
        return self._quiet() and not self.engine.interrupted and not soon

    def _restart_for_update(self) -> None:
        """End the run so that systemd starts the agent again, through the launcher, on the new release."""
        log.info("device %s: restarting into the new release", self.device_id)
        self.restart_requested = True
        if self._link_task is not None:
            self._link_task.cancel()

    async def _login_renewal_loop(self) -> None:
        """Renew a login that expires ahead of time, at a quiet moment (login_renewal.py)."""
        while (times := login_renewal.login_times(self.config.broker.password)) is not None:
            await asyncio.sleep(_jittered(login_renewal.check_every_s(*times)))
            if time.time() >= login_renewal.renewal_due_at(self.device_id, *times) and self._quiet():
                await self._renew_login()

    def _quiet(self) -> bool:
        """Nothing plays and no stream is listened to: a reconnection now costs nobody a word."""
        return self.engine.on_air is None and not self.streams.listening and self.link.connected.is_set()

    async def _renew_login(self) -> None:
        if self.config_path is None:
            return
        renewed = await asyncio.to_thread(renew, self.config, self.config_path, self.key)
        if renewed is None:
            return  # asked again at the next look; the login still works until it expires
        self.config = renewed
        self.link.use_login(renewed.broker.username, renewed.broker.password)
        log.info("device %s: broker login renewed ahead of its expiry; reconnecting", self.device_id)
        self.link.reconnect_now()

    async def _status_page(self) -> None:
        try:
            await status_page.serve(self.config)
        except OSError as exc:
            log.error("device %s: status page not served: %s", self.device_id, exc)

    async def stop(self) -> None:
        """Disconnect cleanly: mark ourselves offline first, since a clean disconnect sends no will."""
        if self.link.connected.is_set():
            with contextlib.suppress(TimeoutError, NotConnected):
                await self.link.publish(self._status_topic, self._status(online=False), qos=1, retain=True)
        await self.link.close()
        health.mark_stopped(self.config.data_dir)
        self.amplifier.force_off()
        self.sink.close()
        if self.microphone is not None:
            self.microphone.close()
        await asyncio.to_thread(WRITER.flush)

    @property
    def _status_topic(self) -> str:
        return topics.device(self.device_id, DeviceTopic.STATUS)

    def _status(self, online: bool) -> bytes:
        return DeviceStatus(
            online=online, boot=self.state.boot, conn=self.connection, install_id=self.state.install_id,
            agent_version=__version__, held=self._held(), ts=int(time.time() * 1000),
            connected_ms=self._connected_ms,
        ).model_dump_json().encode()

    def _held(self) -> HeldVersions:
        held_areas = {a: v for a, v in self.state.held_areas.items() if a in self.areas}
        return HeldVersions(device=self.state.held_device, areas=held_areas)

    def _before_connect(self) -> None:
        self.connection += 1
        self.link.set_will(self._status_topic, self._status(online=False), qos=1, retain=True)

    async def _on_connected(self) -> None:
        # when the broker accepted it: renewing the subscriptions can wait on a busy broker
        self._connected_ms = int((self.link.connected_at or time.time()) * 1000)
        self.write_health()
        await self.publish_birth()
        await self.report()
        sent = await self.outbox.flush(self._publish_event)
        if sent:
            log.info("device %s: resent %s unacknowledged events", self.device_id, sent)

    async def _resend_loop(self) -> None:
        """Send again, while connected, the events still unacknowledged long after they were sent
        (a publish or its acknowledgement lost under load): a receipt must not wait for the next
        reconnection, which may be days away."""
        wait = RESEND_EVERY_S * random.random()  # receivers that came up together spread out at once
        while True:
            await asyncio.sleep(wait)
            wait = _jittered(RESEND_EVERY_S)
            if not self.link.connected.is_set():
                continue
            with contextlib.suppress(TimeoutError, NotConnected):
                sent = await self.outbox.flush(self._publish_event, older_than_s=RESEND_AFTER_S)
                if sent:
                    log.info("device %s: sent %s unacknowledged events again", self.device_id, sent)

    async def publish_birth(self) -> None:
        """Announce this connection and the versions held, so the controller sends what is newer."""
        await self.link.publish(self._status_topic, self._status(online=True), qos=1, retain=True)

    async def _publish_event(self, topic: str, payload: bytes) -> None:
        await self.link.publish(topic, payload, qos=1)

    async def record_event(self, event_type: str, data: dict[str, Any]) -> None:
        """Write an event durably (in a thread: fsync must not stall the audio), then try to send it."""
        async with self._record_lock:
            seq = await asyncio.to_thread(self.outbox.record, event_type, data)
        if self.link.connected.is_set():
            # on failure it is sent again after the next connect
            with contextlib.suppress(TimeoutError, NotConnected, FileNotFoundError):
                await self._publish_event(self.outbox.topic, self.outbox._path(seq).read_bytes())

    # -- verification ----------------------------------------------------------------------

    async def _open(self, topic: str, payload: bytes, retained: bool = False) -> Opened | None:
        """Verify a controller message; None for a harmless repeat or after reporting a rejection.

        A retained message delivered again (on every reconnect) is a repeat, and an older one
        stale; the same payload delivered live a second time is a replay.
        """
        known_now = self._known_now()
        last = self.guard.state.get(topic)
        if retained and last is not None and _signature_of(payload) == last[2]:
            return None
        try:
            trusted = known_now is not None
            opened = self.verifier.open(topic, payload, self.time.now_ms(), clock_trusted=trusted)
            self.time.note_signed_time(opened.issued_ms)
            verdict = self.guard.check(topic, opened, retained, known_now)
            if verdict == ReplayGuard.STALE:
                log.info("device %s: an older retained copy on %s ignored (a restored broker)",
                         self.device_id, topic)
            if verdict != ReplayGuard.NEW:
                return None
        except Rejected as exc:
            await self._reject(topic, exc.reason, exc.detail)
            return None
        return opened

    async def _reject(self, topic: str, reason: str, detail: str = "") -> None:
        self.rejected += 1
        log.warning("device %s: rejected message on %s: %s %s", self.device_id, topic, reason, detail[:120])
        now = time.monotonic()
        if len(self._security_times) == self._security_times.maxlen and now - self._security_times[0] < 60:
            return  # flood: counted in telemetry, not each written to disk
        self._security_times.append(now)
        await self.record_event("security-rejected", {"topic": topic[:200], "reason": reason})

    def _known_now(self) -> int | None:
        """The time when it is known, else None. Once it is known, a held counter whose epoch is
        too far ahead of it (taken while the time was unknown; no controller signs one) is
        forgotten, with the desired-state version that came with it."""
        if not self.time.known:
            return None
        now = self.time.now_ms()
        ahead = self.guard.forget_ahead(now)
        for topic in ahead:
            log.warning("device %s: the counter held for %s was ahead of the time; forgotten",
                        self.device_id, topic)
            self._forget_held_version(topic)
        if ahead:
            self.state.save()
        return now

    def _forget_held_version(self, topic: str) -> None:
        parsed = topics.parse(topic)
        if parsed is None or parsed.leaf != DeviceTopic.DESIRED:
            return
        if parsed.family == "dev":
            self.state.held_device = 0
        else:
            self.state.held_areas.pop(parsed.ident, None)

    def _older_than_seen(self, opened: Opened) -> bool:
        """Whether a message was issued before the newest one ever verified (by more than
        FRESH_MARGIN_MS) while the time is unknown: it may be a replay, and nothing in it plays until
        the time is known."""
        return not self.time.known and opened.issued_ms < self.state.newest_signed_ms - FRESH_MARGIN_MS

    def _accept(self, topic: str, opened: Opened) -> None:
        self.guard.accept(topic, opened)
        known = self.time.known
        self.state.note_signed(opened.issued_ms,
                               self.time.now_ms() + envelope.ALLOWED_CLOCK_SKEW_MS if known else None)
        self.state.save()

    # -- desired state ---------------------------------------------------------------------

    async def _desired(self, topic: str, payload: bytes, retained: bool, scope: str,
                       target: str | None) -> tuple[DesiredState, bool] | None:
        """Verify a desired state addressed to this topic's target; None when it is not to be applied,
        else the state and whether its items must wait for the time (_older_than_seen)."""
        if not payload:
            return None  # a cleared retained message
        opened = await self._open(topic, payload, retained)
        if opened is None:
            return None
        desired: DesiredState | None = await self._model(topic, DesiredState, opened.body)
        if desired is None or desired.scope != scope or desired.target != target:
            return None
        needs_time = self._older_than_seen(opened)
        if needs_time:
            log.warning("device %s: %s issued before the newest message seen, while the time is unknown: "
                        "its items wait for the time", self.device_id, topic)
        self._accept(topic, opened)
        return desired, needs_time

    async def on_device_desired(self, topic: str, payload: bytes, retained: bool) -> None:
        """Apply the device's own desired state: settings, area membership and broker addresses."""
        held = self._held_copy(topic, payload, retained)
        if held is not None:  # the state it verified and holds, delivered again on connecting
            await self._take_release_offer(held)
            return
        taken = await self._desired(topic, payload, retained, "device", self.device_id)
        if taken is None or taken[0].version < self.state.held_device:
            return
        await self._take_release_offer(taken[0])
        if taken[0].version == self.state.held_device:
            return
        desired, needs_time = taken
        if desired.settings.volume is not None:
            self.sink.set_volume(desired.settings.volume)
            self.state.volume = desired.settings.volume
        if desired.areas:
            await self._set_areas(desired.areas)
        if desired.broker_addresses is not None:
            await take_addresses(desired.broker_addresses, self.config, self.config_path, self.link)
        await self._take_schedule("device", len(self.areas), desired, needs_time)
        self.state.held_device = desired.version
        self.state.save()
        log.info("device %s: desired state v%s applied", self.device_id, desired.version)
        await self.report()

    def _held_copy(self, topic: str, payload: bytes, retained: bool) -> DesiredState | None:
        """The retained copy of the desired state this device verified and holds (the very same
        signature), read again: it names the release to run, and its arrival shows the agent is
        connected and in step. None for anything else, which is verified as new."""
        last = self.guard.state.get(topic)
        if not retained or last is None or _signature_of(payload) != last[2]:
            return None
        try:
            return DesiredState.model_validate(envelope.parse(payload)["body"])
        except (Rejected, KeyError, TypeError, ValidationError):
            return None

    async def _take_release_offer(self, desired: DesiredState) -> None:
        """The release this device is to run; receiving its own desired state from the controller is
        also the sign a release on trial waits for (connected, verified, converging)."""
        await self.updates.offer(desired.release)
        if self._engine_running():  # it came over the broker: connected (perhaps still subscribing)
            await self.updates.healthy()

    def _engine_running(self) -> bool:
        """The playout engine's task is alive (a self-check of a release on trial)."""
        return self._engine_task is not None and not self._engine_task.done()

    async def on_area_desired(self, topic: str, payload: bytes, retained: bool) -> None:
        """Take an area's desired state."""
        parsed = topics.parse(topic)
        taken = await self._desired(topic, payload, retained, "area", parsed.ident if parsed else None)
        if taken is not None and taken[0].version > self.state.held_areas.get(taken[0].target, 0):
            desired, needs_time = taken
            depth = self.areas.index(desired.target) if desired.target in self.areas else 0
            await self._take_schedule(desired.target, depth, desired, needs_time)
            self.state.held_areas[desired.target] = desired.version
            self.state.save()
            await self.report()

    async def _take_schedule(self, source: str, depth: int, desired: DesiredState, needs_time: bool) -> None:
        """Store the occurrences; each one refused gets a receipt and the others still play."""
        for rejection in self.schedule.take(source, depth, desired.occurrences, desired.quiet_hours,
                                            self.time.now_ms(), needs_time, desired.ducking_db):
            log.warning("device %s: occurrence %s rejected: %s", self.device_id, rejection.occurrence_id,
                        rejection.reason)
            await self.record_event("rejected", {"occurrence": rejection.occurrence_id,
                                                 "reason": rejection.reason, "from": source})
        self.engine.wake()

    async def _set_areas(self, areas: list[str]) -> None:
        if areas == self.areas:
            return
        for gone in set(self.areas) - set(areas):
            for leaf in AreaTopic:
                await self.link.unsubscribe(topics.area(gone, leaf))
        for new in [a for a in areas if a not in self.areas]:
            self._route_area(self.link, new)
            for leaf in AreaTopic:
                await self.link.subscribe(topics.area(new, leaf), SUBSCRIBE_QOS)
        log.info("device %s: now in areas %s", self.device_id, "/".join(areas))
        self.areas = list(areas)
        self.state.areas = list(areas)
        self.state.save()

    async def report(self) -> None:
        """Publish what has been applied (retained); the next connection reports it anyway."""
        reported = Reported(ts=int(time.time() * 1000), applied=self._held(), volume=self.state.volume)
        with contextlib.suppress(NotConnected, asyncio.TimeoutError):
            await self.link.publish(topics.device(self.device_id, DeviceTopic.REPORTED),
                                    reported.model_dump_json().encode(), qos=1, retain=True)

    # -- commands, acknowledgements, clock -------------------------------------------------

    async def on_command(self, topic: str, payload: bytes, retained: bool) -> None:
        """Carry out a signed command once, and reply."""
        opened = await self._open(topic, payload)
        if opened is None:
            return
        command = await self._model(topic, Command, opened.body)
        if command is None:
            return
        if self._older_than_seen(opened):  # it cannot wait for the time as an item can: refused
            await self._reject(topic, "older_than_seen", "issued before the newest message verified")
            return
        self._accept(topic, opened)
        if command.id in self._recent_commands:
            return
        self._recent_commands.append(command.id)
        ok, detail = await self._execute(command)
        reply = CommandReply(id=command.id, ok=ok, detail=detail, ts=int(time.time() * 1000))
        await self.link.publish(topics.device(self.device_id, DeviceTopic.REPLY),
                                reply.model_dump_json().encode(), qos=1)

    async def _execute(self, command: Command) -> tuple[bool, str]:
        log.info("device %s: command %s (%s)", self.device_id, command.name, command.id)
        if command.name == "ping":
            return True, "pong"
        if command.name == "resync":
            await self.publish_birth()
            return True, "birth sent"
        if command.name == "test-tone":
            return await self._test_tone(command.args)
        if command.name == "chime":
            await self._sound(attention.chime_pcm())
            return True, "played the attention chime"
        if command.name == "amplifier":
            return self._amplifier_command(command.args)
        if command.name == "reboot":
            return self._request_reboot(command.id)
        if command.name == "upload-logs":
            return await self._upload_logs()
        if command.name == "stop":
            stopped = await self.engine.stop_all(str(command.args.get("reason", "stop"))[:64])
            return True, f"stopped {len(stopped)} item(s)"
        return False, f"unknown command {command.name}"

    def _request_reboot(self, command_id: str) -> tuple[bool, str]:
        """Ask the service manager to reboot the board (a root path unit watches this file)."""
        write_json(self.config.data_dir / "reboot-request", {"command": command_id, "ts": time.time()})
        log.warning("device %s: reboot requested by command %s", self.device_id, command_id)
        return True, "reboot requested"

    async def _upload_logs(self) -> tuple[bool, str]:
        """Send the recent log lines to the controller, signed (body included) like every device request."""
        body = logbuffer.RECENT.text(self.device_id).encode()[-MAX_LOG_UPLOAD_BYTES:]
        path = f"/api/v1/devices/{self.device_id}/logs"
        headers = {**sign_request(self.key, self.device_id, "POST", path, body=body),
                   "Content-Type": "text/plain"}
        request = urllib.request.Request(self.config.controller_url.rstrip("/") + path, data=body,  # noqa: S310
                                         headers=headers, method="POST")
        try:
            ca_file = self.config.controller_ca_file
            answer = await asyncio.to_thread(controller_http.open_url, request, 30, ca_file)
            answer.close()
        except (urllib.error.URLError, OSError) as exc:
            return False, f"upload failed: {getattr(exc, 'reason', exc)}"[:200]
        return True, f"uploaded {len(body)} bytes of log"

    def _amplifier_command(self, args: dict[str, Any]) -> tuple[bool, str]:
        """A technician's check of the relay: on for a while (then off after the hold), or off."""
        wanted = args.get("on")
        if not isinstance(wanted, bool):
            return False, "give on: true or on: false"
        if wanted:
            self.amplifier.switch_on()
            self.amplifier.release()
            return True, f"amplifier on for {self.amplifier.hold_s:.0f} s"
        if self.engine.on_air is not None:
            return False, "audio is playing; stop it first"
        self.amplifier.force_off()
        return True, "amplifier off"

    async def _test_tone(self, args: dict[str, Any]) -> tuple[bool, str]:
        try:
            frequency = float(args.get("frequency_hz", 1000))
            seconds = float(args.get("seconds", 1.0))
        except (TypeError, ValueError):
            return False, "frequency_hz and seconds must be numbers"
        if not (50 <= frequency <= 10_000 and 0 < seconds <= MAX_TONE_SECONDS):
            return False, f"frequency 50-10000 Hz, duration up to {MAX_TONE_SECONDS} s"
        await self._sound(sine(frequency, seconds))
        return True, f"played {frequency:.0f} Hz for {seconds:.1f} s"

    async def _sound(self, pcm: bytes) -> None:
        """Write a technician's check sound (a tone, the chime) to the card as it takes it."""
        while pcm:
            accepted = self.sink.write(pcm)
            pcm = pcm[accepted:]
            if pcm:
                await asyncio.sleep(0.05)

    async def on_event_ack(self, topic: str, payload: bytes, retained: bool) -> None:
        """Forget events the controller stored."""
        opened = await self._open(topic, payload)
        if opened is None:
            return
        ack = await self._model(topic, EventAck, opened.body)
        if ack is not None:
            self._accept(topic, opened)
            self.outbox.acknowledge(ack.install_id, ack.seqs)

    async def on_clock_reply(self, topic: str, payload: bytes, retained: bool) -> None:
        """Take a signed clock reply that answers one of our requests."""
        opened = await self._open(topic, payload)
        if opened is None:
            return
        reply = await self._model(topic, ClockReply, opened.body)
        if reply is not None:
            self._accept(topic, opened)
            self.clock.answer(reply)

    async def on_revocations(self, topic: str, payload: bytes, retained: bool) -> None:
        """Take a newer root-signed list of revoked signing keys; report one the root did not sign."""
        if not payload:
            return  # a cleared retained message: the list held stays
        try:
            self.revocations.take(payload)
        except Rejected as exc:
            await self._reject(topic, exc.reason, exc.detail)

    async def on_controller_state(self, topic: str, payload: bytes, retained: bool) -> None:
        """When a controller comes (back) online, announce ourselves again so it can resync; when
        one that was online connects again (the broker restarted), send it what it may have missed.

        A controller publishes its online state once subscribed, with the time it connected, so a
        live online state with a new time means it listens again. After a broker restart this
        agent may have reconnected, and sent its unacknowledged events, before the controller did.
        """
        try:
            state = ControllerState.model_validate_json(payload)
        except ValidationError:
            self.dropped += 1
            log.warning("device %s: unreadable controller state on %s dropped", self.device_id, topic)
            return
        seen = self._controllers_online.get(state.instance)
        if not state.online:
            self._controllers_online.pop(state.instance, None)
            return
        self._controllers_online[state.instance] = state.ts
        if retained or seen == state.ts:
            return
        self._schedule_rebirth(state.instance, birth=seen is None)

    def _schedule_rebirth(self, instance: str, birth: bool) -> None:
        """Announce ourselves (birth) to a controller that came back, or only send it the events it
        has not acknowledged, after a random pause.

        Every agent sees the controller come back at the same moment; the pause spreads the
        fleet's births and resends over REBIRTH_WINDOW_S instead of one burst.
        """
        if self._rebirth is not None and not self._rebirth.done():
            return
        delay = random.uniform(0, REBIRTH_WINDOW_S)
        log.info("device %s: controller %s online; %s in %.1f s", self.device_id, instance,
                 "birth" if birth else "unacknowledged events", delay)
        self._rebirth = asyncio.create_task(self._rebirth_after(delay, birth))

    async def _rebirth_after(self, delay: float, birth: bool) -> None:
        await asyncio.sleep(delay)
        self._ask_clock_again()
        with contextlib.suppress(NotConnected, asyncio.TimeoutError):
            if birth:
                await self.publish_birth()
            # what was sent while no controller listened was lost: send the unacknowledged again
            await self.outbox.flush(self._publish_event)

    async def _model(self, topic: str, model: Any, body: dict[str, Any]) -> Any:
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            await self._reject(topic, "invalid_body", str(exc.errors()[0]["msg"]))
            return None

    # -- periodic work ---------------------------------------------------------------------

    async def _telemetry_loop(self) -> None:
        wait = self.telemetry_interval_s * random.random()  # those that came up together spread out at once
        while True:
            if self.link.connected.is_set():
                with contextlib.suppress(TimeoutError, NotConnected):
                    await self.send_telemetry()
            self.write_health()
            await asyncio.sleep(wait)
            wait = _jittered(self.telemetry_interval_s)

    @property
    def telemetry_interval_s(self) -> float:
        """Telemetry doubles as the heartbeat: at least one report per keepalive."""
        return min(self.config.telemetry_interval_s, float(self.config.broker.keepalive))

    def write_health(self) -> None:
        """Tell `doctor` and service health checks how the agent is."""
        health.write(
            self.config.data_dir, device_id=self.device_id, connected=self.link.connected.is_set(),
            boot=self.state.boot, connections=self.link.connections, clock_offset_us=self.clock.offset_us(),
            rejected=self.rejected, sink=self.sink.name, interval_s=self.telemetry_interval_s,
            started_at=self.started_at,
        )

    def telemetry(self) -> Telemetry:
        """A fresh telemetry report."""
        playing = self.engine.on_air
        upcoming = self.engine.next_item()
        month, month_bytes = self.data_usage()
        modem = self.modem.status()
        return Telemetry(
            playing=playing.item.id if playing else None,
            playing_level=playing.item.level.name.lower() if playing else None,
            next_occurrence=upcoming.id if upcoming else None,
            next_start_ms=upcoming.start_ms if upcoming else None,
            cache_bytes=self.engine.cache.used_bytes(), amplifier_on=self.amplifier.on,
            time_known=self.time.known, data_month=month, data_month_bytes=month_bytes,
            ts=int(time.time() * 1000), uptime_s=round(telemetry.system_uptime(), 1),
            load1=telemetry.load_average(), mem_used_pct=telemetry.memory_used_percent(),
            disk_free_mb=telemetry.disk_free_mb(self.config.data_dir), cpu_temp_c=telemetry.cpu_temperature(),
            agent_version=__version__, iface=telemetry.default_interface(),
            signal_dbm=modem.signal_dbm if modem else None, modem_operator=modem.operator if modem else None,
            modem_technology=modem.technology if modem else None, sim_state=modem.sim if modem else None,
            volume=self.state.volume,
            rejected_messages=self.rejected + self.dropped, bytes_received=self.bytes_received,
            stream_bytes=self.streams.counters.bytes, stream_chunks=self.streams.counters.chunks,
            stream_rejected=self.streams.counters.forged + self.streams.counters.replayed
            + self.streams.counters.malformed,
            revocation_serial=self.revocations.serial,
        )

    async def send_telemetry(self) -> None:
        """Publish telemetry now."""
        payload = (await asyncio.to_thread(self.telemetry)).model_dump_json().encode()
        await self.link.publish(topics.device(self.device_id, DeviceTopic.TELEMETRY), payload, qos=0)

    async def _clock_loop(self) -> None:
        while True:
            await self.link.connected.wait()
            with contextlib.suppress(TimeoutError, NotConnected):
                await self.link.publish(topics.device(self.device_id, DeviceTopic.CLOCK_REQUEST),
                                        self.clock.request().model_dump_json().encode(), qos=0)
            self._ask_clock_now.clear()
            await wait_at_most(self._ask_clock_now, self.clock_interval_s())

    def _ask_clock_again(self) -> None:
        """A controller came (back) online: what went unanswered was asked of no one. The backoff starts
        over, and an agent that does not know the time yet asks at once rather than at the end of a
        wait that may have grown to a minute (after its birth's random pause, so a fleet spreads)."""
        self.clock.forget_unanswered()
        if not self.time.known_from_exchange:
            self._ask_clock_now.set()

    def clock_interval_s(self) -> float:
        """Twice a second until a few samples are in (the best of them is used), more often while a
        live stream plays (the local clock's drift matters to sample accuracy), else as configured;
        each request left unanswered doubles the wait (clock.py), so an overloaded or absent
        controller is asked less, not more."""
        configured = self.config.clock_interval_s
        if not self.time.known_from_exchange or len(self.clock.samples) < WARMUP_SAMPLES:
            interval = min(FIRST_INTERVAL_S, configured)
        elif self.streams.listening:
            interval = min(LIVE_CLOCK_INTERVAL_S, configured)
        else:
            interval = configured
        return self.clock.wait_s(interval, max(interval, UNANSWERED_CAP_S))


def _signature_of(payload: bytes) -> str | None:
    try:
        return str(envelope.parse(payload)["sig"])
    except Rejected:
        return None


def _jittered(period_s: float) -> float:
    """A period shortened by a random part of up to PERIOD_JITTER: receivers that came up together
    (after a power cut, a broker restart) drift apart instead of reporting in the same instant
    forever, and a telemetry period stays within the keepalive it stands for."""
    return period_s * (1 - PERIOD_JITTER * random.random())
