"""Live sessions: a source's audio, cut into signed chunks and published while a lease holds receivers.

A live broadcast goes on the air when its source gives its first audio: one occurrence per target
whose source is the stream (its topic, the public half of a key made for this session alone, and
the playout latency), valid for a lease that this controller renews every third of it. Receivers
subscribe to the stream's topic only while such an occurrence is theirs, so no other receiver gets
a byte of it. The session ends when its source ends or sends nothing for `live_silence_s`, when the
broadcast is stopped (here or on another controller), or, on the receivers, when the lease runs out
because this controller is gone.

Chunks are published at QoS 0 and never retained: a chunk that is late is worth nothing. So while
the broker is away the session goes on (its source is read and encoded as before) and the chunks
it cannot publish are dropped and counted; the lease is published again as soon as the broker is
back, and the chunks reach every receiver again from then on. Buffering them would only make the
receivers play late.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import update

from loalang_protocol import chunks, topics
from loalang_protocol.chunks import AudioChunk
from loalang_protocol.keys import KeyPair
from loalang_protocol.mqtt import NotConnected
from loalang_protocol.topics import StreamTopic

from .. import audit
from ..airtime import publishing
from ..broadcasting import broadcasts
from ..context import Services
from ..db.models import Broadcast, Occurrence
from ..fleet import desired
from ..media.tools import ToolFailed
from .chunker import Chunker, ChunkerSettings
from .records import LiveRecord
from .sources import SourceError

log = logging.getLogger(__name__)

LIVE_SPAN_MS = 12 * 3600 * 1000  # the longest a live session can last
PUBLISH_LEAD_MS = 1000  # audio that came early (a relay's burst) waits until this close to its time
STOP_POLL_S = 1.0
PLAY_OUT_MARGIN_MS = 300  # a source that ends stays on the air this long after its last sample is heard
BROKER_AWAY = (NotConnected, TimeoutError)  # a publication the broker did not take (or acknowledge)


class SourceSilent(Exception):
    """The source sent nothing for too long."""


@dataclass
class SessionStats:
    """What a session sent."""

    chunks: int = 0
    bytes: int = 0
    late_dropped: int = 0
    undelivered: int = 0  # chunks dropped while the broker was away
    renewals_failed: int = 0
    last_end_us: int = 0  # presentation time just after the last sample sent


def now_us() -> int:
    """The controller's clock, in microseconds (presentation times are in it)."""
    return time.time_ns() // 1000


class LiveSession:
    """One live broadcast's stream, from its first audio to its end."""

    def __init__(self, services: Services, broadcast_id: str, kind: str, ends_ms: int | None = None) -> None:
        settings = services.settings
        self.services = services
        self.broadcast_id = broadcast_id
        self.kind = kind
        self.key = KeyPair.generate()
        self.topic = topics.stream(broadcast_id, StreamTopic.CHUNK)
        self.chunker = Chunker(ChunkerSettings(
            chunk_ms=settings.live_chunk_ms, bitrate=settings.live_bitrate,
            max_lead_ms=300 if kind == "microphone" else None))
        self.latency_ms = settings.live_latency_ms
        self.stats = SessionStats()
        self.stopped = asyncio.Event()
        self.stop_reason = "stopped"
        self.ends_ms = ends_ms  # a scheduled relay's window closes then
        self.targets: list[str] = []
        self.start_ms: int | None = None
        self.delivering = True  # False while the broker takes no chunks
        self.changed = asyncio.Event()  # set when start_ms or delivering changes
        self._renew_at = 0.0  # monotonic time the lease is to be published next
        self._renewal: asyncio.Task[None] | None = None
        self.record: LiveRecord | None = None  # what it put on the air, from its first audio

    async def run(self, blocks: AsyncIterator[bytes]) -> str:
        """Publish the source's audio until it ends or the broadcast is stopped; returns why it ended
        (never raises: a failure ends the session as `error`)."""
        pump = asyncio.create_task(self._pump(blocks))
        watch = asyncio.create_task(self._watch())
        reason = "controller_stopped"  # unless told otherwise: cancelled as the controller stops
        try:
            done, _ = await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
            reason = self._outcome(done.pop())
        finally:
            tasks = [task for task in (pump, watch, self._renewal) if task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._end(reason)
        return reason

    def _outcome(self, task: asyncio.Task[str]) -> str:
        """Why the session ends, from the task that ended first."""
        try:
            return task.result()
        except Exception:
            log.exception("live %s: the session failed", self.broadcast_id)
            return "error"

    async def _pump(self, blocks: AsyncIterator[bytes]) -> str:
        iterator = aiter(blocks)
        silence_s = self.services.settings.live_silence_s
        try:
            while True:
                try:
                    async with asyncio.timeout(silence_s):
                        block = await anext(iterator)
                except StopAsyncIteration:
                    await self._play_out()
                    return "source_ended"
                except TimeoutError:
                    return "source_silent"
                arrived = now_us()
                if self.start_ms is None and not await self._go_on_air(arrived // 1000):
                    return "stopped"
                for chunk in self.chunker.feed(block, arrived):
                    self._recorded(chunk)
                    await self._publish(chunk)
                await asyncio.sleep(0)  # a backlog read without a pause still lets a stop in
        except ToolFailed as exc:
            log.warning("live %s: the source failed: %s", self.broadcast_id, exc)
            return "source_failed"
        except SourceError as exc:
            log.warning("live %s: the source is refused: %s", self.broadcast_id, exc)
            return "source_refused"

    async def _play_out(self) -> None:
        """Send what is left and stay on the air until the receivers have played it."""
        for chunk in self.chunker.flush():
            self._recorded(chunk)
            await self._publish(chunk)
        if self.stats.last_end_us:
            heard_at_ms = self.stats.last_end_us / 1000 + self.latency_ms + PLAY_OUT_MARGIN_MS
            await asyncio.sleep(max(0.0, heard_at_ms - time.time() * 1000) / 1000)

    def _recorded(self, chunk: AudioChunk) -> None:
        if self.record is not None:
            self.record.add(chunk)

    async def _publish(self, chunk: AudioChunk) -> None:
        due_ms = chunk.pts_us / 1000
        wait_s = (due_ms - PUBLISH_LEAD_MS - time.time() * 1000) / 1000
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        if due_ms + self.latency_ms < time.time() * 1000:
            self.stats.late_dropped += 1  # a burst's past: every receiver would drop it
            return
        payload = chunks.encode(chunk, self.topic, self.key)
        try:
            await self.services.link.publish(self.topic, payload, qos=0)
        except NotConnected:
            self._undelivered()
            return
        self._delivered()
        self.stats.chunks += 1
        self.stats.bytes += len(payload)
        self.stats.last_end_us = chunk.pts_us + chunk.duration_us

    def _undelivered(self) -> None:
        """A chunk the broker did not take: dropped (too late by the time it is back), counted."""
        self.stats.undelivered += 1
        self.services.counters.add("live.chunks_undelivered")
        if self.delivering:
            self.delivering = False
            self.changed.set()
            log.warning("live %s: the broker is away; its audio is dropped until it is back",
                        self.broadcast_id)

    def _delivered(self) -> None:
        if not self.delivering:
            self.delivering = True
            self.changed.set()
            log.info("live %s: the broker is back; %d chunks were dropped meanwhile", self.broadcast_id,
                     self.stats.undelivered)

    def _source(self) -> dict[str, object]:
        return {"type": "stream", "stream": self.broadcast_id, "keys": [self.key.public_text],
                "latency_ms": self.latency_ms}

    async def _go_on_air(self, now_ms: int) -> bool:
        """Put the stream on the targets' schedules; False when the broadcast was stopped meanwhile."""
        lease_ms = self.services.settings.live_lease_s * 1000
        with self.services.db.session() as session:
            broadcast = session.get(Broadcast, self.broadcast_id)
            if broadcast is None or broadcast.status != "on_air":
                return False
            span_ms = LIVE_SPAN_MS if self.ends_ms is None else max(1000, self.ends_ms - now_ms)
            broadcast.duration_ms = broadcast.max_lateness_ms = span_ms
            written = await publishing.write_on_air(self.services, session, broadcast, margin_ms=0,
                                                    valid_until_ms=self._lease_until(now_ms + lease_ms),
                                                    source=self._source())
            title, background = broadcast.title, broadcast.level == "background"
        self.start_ms, self.targets = now_ms, written.targets
        if not background:  # a station's programme under the commune's own: the station keeps its record
            self._start_record(title)
        self.changed.set()
        log.info("live %s: on the air (%s), %d targets", self.broadcast_id, self.kind, len(written.targets))
        await self._publish_lease()
        return True

    def _start_record(self, title: str) -> None:
        try:
            self.record = LiveRecord(self.services, self.broadcast_id, title)
        except OSError as exc:
            log.error("live %s: not recorded (%s); the broadcast goes on", self.broadcast_id, exc)

    async def _keep_record(self) -> None:
        """Store the recording in the library and link it (never raises: the end goes on)."""
        record, self.record = self.record, None
        if record is None:
            return
        try:
            sha = await asyncio.to_thread(record.keep)
        except Exception:
            log.exception("live %s: its recording was not kept", self.broadcast_id)
        else:
            log.info("live %s: recorded as %s", self.broadcast_id, sha)

    def stop(self, reason: str = "stopped") -> None:
        """End the session: `stopped` by an operator, else why (the broadcast is then `done`)."""
        self.stop_reason = reason
        self.stopped.set()

    async def _watch(self) -> str:
        """Renew the lease every third of it (on the side: a broker slow to acknowledge delays no
        stop); notice a stop made here or on another controller, and the end of a scheduled window."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_POLL_S):
                    await self.stopped.wait()
            if self.stopped.is_set():
                return self.stop_reason
            if not self._still_on_air():
                return "stopped"
            if self.ends_ms is not None and time.time() * 1000 >= self.ends_ms:
                return "window_ended"
            if self._renewal_due():
                self._renewal = asyncio.create_task(self._renew())

    def _lease_until(self, wanted_ms: int) -> int:
        """A lease never outlasts a scheduled window: the receivers fall silent as it closes, however
        late the withdrawal reaches them."""
        return wanted_ms if self.ends_ms is None else min(wanted_ms, self.ends_ms)

    def _still_on_air(self) -> bool:
        with self.services.db.session() as session:
            broadcast = session.get(Broadcast, self.broadcast_id)
            return broadcast is not None and broadcast.status == "on_air"

    def _renewal_due(self) -> bool:
        """Time to renew, no renewal under way, and a broker to publish it to (a renewal missed while
        it was away is made as soon as it is back)."""
        return (self.start_ms is not None and time.monotonic() >= self._renew_at
                and (self._renewal is None or self._renewal.done()) and self.services.link.connected.is_set())

    async def _renew(self) -> None:
        """Extend the lease in the database and publish it (a failure is logged and tried again)."""
        until_ms = self._lease_until(int(time.time() * 1000) + self.services.settings.live_lease_s * 1000)
        try:
            with self.services.db.session() as session:
                session.execute(update(Occurrence).where(Occurrence.broadcast_id == self.broadcast_id)
                                .values(valid_until_ms=until_ms))
                broadcasts.bump_versions(session, self.targets)
            await self._publish_lease()
        except Exception:
            self._renew_at = time.monotonic() + self.services.settings.live_lease_s / 3
            log.exception("live %s: the lease was not renewed; again in a third of it", self.broadcast_id)

    async def _publish_lease(self) -> None:
        """Publish the targets' desired state; when the broker does not take it, again once it is back."""
        try:
            await desired.publish_targets(self.services, self.targets)
        except BROKER_AWAY as exc:
            self.stats.renewals_failed += 1
            self.services.counters.add("live.renewals_failed")
            self._renew_at = time.monotonic()
            log.warning("live %s: the lease was not published (%s); again when the broker is back",
                        self.broadcast_id, exc or type(exc).__name__)
        else:
            self._renew_at = time.monotonic() + self.services.settings.live_lease_s / 3

    async def _end(self, reason: str) -> None:
        """Take the stream off the receivers' schedules and record how it ended (never raises: the
        session's end is told to its microphone whatever failed here)."""
        try:
            await publishing.take_off_air(self.services, "system", [self.broadcast_id],
                                          status="stopped" if reason == "stopped" else "done")
        except BROKER_AWAY:
            log.warning("live %s: the broker is away; the receivers hear of the end when it is back, or "
                        "stop as their lease runs out", self.broadcast_id)
        except Exception:
            log.exception("live %s: could not take the stream off the air; its lease runs out",
                          self.broadcast_id)
        await self._keep_record()
        try:
            with self.services.db.session() as session:
                audit.record(session, "system", "broadcast.live_end", [self.broadcast_id], reason=reason,
                             chunks=self.stats.chunks, bytes=self.stats.bytes,
                             undelivered=self.stats.undelivered)
        except Exception:
            log.exception("live %s: its end was not written to the audit log", self.broadcast_id)
        log.info("live %s: ended (%s) after %d chunks, %d bytes, %d dropped while the broker was away",
                 self.broadcast_id, reason, self.stats.chunks, self.stats.bytes, self.stats.undelivered)

