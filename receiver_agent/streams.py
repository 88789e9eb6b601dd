"""Live streams on the agent: subscribe while the schedule names them, verify every chunk, buffer it.

An occurrence whose source is a stream names the stream's topic and the keys its chunks are
signed with (trusted because the controller signed the desired state that names them). While
such an occurrence is in force, the agent subscribes to the stream's chunk topic; when it ends
(withdrawn, or its lease ran out) the agent unsubscribes, so a receiver that is not addressed
receives no stream bytes at all. A chunk that is malformed, signed by another key, retained, or
not newer than the last one accepted (a replay) is dropped and counted.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from loalang_protocol import chunks, topics
from loalang_protocol.chunks import AudioChunk, ChunkError
from loalang_protocol.keys import public_from_text
from loalang_protocol.messages import Occurrence, StreamSource
from loalang_protocol.mqtt import MqttLink
from loalang_protocol.topics import StreamTopic

from .playout.schedule import Schedule

log = logging.getLogger(__name__)

FRESH_S = 2.0  # a stream that sent nothing for this long is silent: other sources may play
KEPT_CHUNKS = 50  # the newest chunks kept while no player takes them (10 s of 200 ms chunks)


@dataclass
class StreamCounters:
    """What the streams brought, for telemetry."""

    chunks: int = 0
    bytes: int = 0
    forged: int = 0
    replayed: int = 0
    malformed: int = 0


@dataclass
class Subscription:
    """One stream listened to, and what was accepted from it."""

    source: StreamSource
    last_seq: dict[int, int] = field(default_factory=dict)  # key index -> newest sequence number
    last_chunk_at: float = 0.0
    chunks: deque[AudioChunk] = field(default_factory=lambda: deque(maxlen=KEPT_CHUNKS))  # for a new player


class StreamReceiver:
    """Keeps the stream subscriptions in line with the schedule and hands verified chunks on."""

    def __init__(self, link: MqttLink, schedule: Schedule, now_ms: Callable[[], int],
                 on_rejected: Callable[[str, str], Awaitable[None]]) -> None:
        self.link = link
        self.schedule = schedule
        self.now_ms = now_ms
        self.on_rejected = on_rejected
        self.counters = StreamCounters()
        self.listening: dict[str, Subscription] = {}
        self.on_chunk: Callable[[str, AudioChunk], bool] | None = None  # True: a player took it

    def wanted(self) -> dict[str, StreamSource]:
        """The streams of occurrences in force now, by stream id."""
        now = self.now_ms()
        streams: dict[str, StreamSource] = {}
        for occurrence, item in self.schedule.pending():
            if isinstance(occurrence.source, StreamSource) and _in_force(occurrence, item.window_end_ms, now):
                streams[occurrence.source.stream] = occurrence.source
        return streams

    async def sync(self) -> None:
        """Subscribe to streams now wanted, unsubscribe from those no longer wanted."""
        wanted = self.wanted()
        for stream_id in set(self.listening) - set(wanted):
            del self.listening[stream_id]
            await self.link.unsubscribe(topics.stream(stream_id, StreamTopic.CHUNK))
            log.info("stream %s: left", stream_id)
        for stream_id, source in wanted.items():
            if stream_id in self.listening:
                self.listening[stream_id].source = source  # a renewed lease may name new keys
                continue
            self.listening[stream_id] = Subscription(source)
            topic = topics.stream(stream_id, StreamTopic.CHUNK)
            self.link.route(topic, self.on_message, qos=0)
            if self.link.connected.is_set():
                await self.link.subscribe(topic, qos=0)
            log.info("stream %s: joined", stream_id)

    def fresh(self, stream_id: str) -> bool:
        """Whether the stream sent a chunk lately (it is worth playing)."""
        listening = self.listening.get(stream_id)
        return listening is not None and time.monotonic() - listening.last_chunk_at < FRESH_S

    def take(self, stream_id: str) -> list[AudioChunk]:
        """The chunks accepted since the last call, in arrival order."""
        listening = self.listening.get(stream_id)
        if listening is None:
            return []
        taken = list(listening.chunks)
        listening.chunks.clear()
        return taken

    async def on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        """One chunk from the broker: verified, or dropped and counted."""
        parsed = topics.parse(topic)
        listening = self.listening.get(parsed.ident) if parsed else None
        if listening is None or parsed is None:
            return  # a late delivery after leaving the stream
        self.counters.bytes += len(payload)
        chunk, problem = self._verified(topic, payload, retained, listening)
        if chunk is None:
            await self.on_rejected(topic, problem)
            return
        listening.last_seq[chunk.key_index] = chunk.seq
        listening.last_chunk_at = time.monotonic()
        self.counters.chunks += 1
        if self.on_chunk is None or not self.on_chunk(parsed.ident, chunk):
            listening.chunks.append(chunk)  # kept for a player about to start

    def _verified(self, topic: str, payload: bytes, retained: bool,
                  listening: Subscription) -> tuple[AudioChunk | None, str]:
        """The chunk when it is genuine and new; else None and the reason (counted)."""
        try:
            header = chunks.decode(payload)
            keys = listening.source.keys
            if retained or header.key_index >= len(keys):
                raise ChunkError("bad_signature", "retained, or an unknown key")
            chunk = chunks.verify(payload, topic, public_from_text(keys[header.key_index]))
        except ChunkError as exc:
            if exc.reason == "bad_signature":
                self.counters.forged += 1
            else:
                self.counters.malformed += 1
            return None, exc.reason
        last = listening.last_seq.get(chunk.key_index)
        if last is not None and chunk.seq <= last:
            self.counters.replayed += 1
            return None, "replayed"
        return chunk, ""


def _in_force(occurrence: Occurrence, window_end_ms: int, now_ms: int) -> bool:
    return occurrence.start_ms - 5_000 <= now_ms < window_end_ms
