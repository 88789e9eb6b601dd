"""A poor network between broker and client: a TCP proxy that delays and drops whole MQTT packets.

The proxy listens on a free loopback port and forwards to the broker. What the client sends
passes untouched. What the broker sends is cut into whole MQTT control packets (the fixed
header's first byte, then the remaining length in 1 to 4 bytes of 7 bits each), and each packet
is held for a random time of up to jitter_ms without overtaking the one before it, as on a link
whose queue varies. A QoS 0 PUBLISH is lost with probability `loss`; nothing else is ever dropped
(a lost acknowledgement, QoS 1 publication or ping response would break the session, where TCP
retransmission would have saved it). The random draws are seeded, so a run can be repeated.

Used by the tests (tests/e2e/test_live_sync.py) and usable from benchmarks; it only binds and
connects to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from loalang_stack.ports import free_port

PUBLISH = 3
MAX_LENGTH_BYTES = 4  # the remaining length takes at most four bytes (MQTT 3.1.1 and 5)


class MalformedPacket(ValueError):
    """The broker's bytes are not MQTT framing (the proxy then closes the connection)."""


def remaining_length(data: bytes | bytearray, offset: int = 1) -> tuple[int, int] | None:
    """The remaining length starting at offset and how many bytes it took; None while incomplete."""
    value = 0
    for index in range(MAX_LENGTH_BYTES):
        if offset + index >= len(data):
            return None
        byte = data[offset + index]
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value, index + 1
    raise MalformedPacket("a remaining length longer than four bytes")


def split_packets(buffer: bytearray) -> list[bytes]:
    """Take the whole MQTT packets off the front of buffer (a partial one stays in it)."""
    packets = []
    while len(buffer) >= 2:
        length = remaining_length(buffer)
        if length is None:
            break
        end = 1 + length[1] + length[0]
        if len(buffer) < end:
            break
        packets.append(bytes(buffer[:end]))
        del buffer[:end]
    return packets


def droppable(packet: bytes) -> bool:
    """Whether a packet is a QoS 0 PUBLISH, the only kind a real network may lose for good."""
    return packet[0] >> 4 == PUBLISH and (packet[0] >> 1) & 0x03 == 0


@dataclass
class FaultCounts:
    """Packets from the broker: forwarded to the client or dropped."""

    forwarded: int = 0
    dropped: int = 0
    connections: int = 0


class MqttFaults:
    """A proxy before the broker adding jitter and loss to what the broker sends; close() to stop."""

    def __init__(self, target_port: int, jitter_ms: float = 0.0, loss: float = 0.0,
                 seed: int = 0) -> None:
        if not 0.0 <= loss <= 1.0 or jitter_ms < 0:
            raise ValueError("loss is a probability and jitter_ms is not negative")
        self.target_port = target_port
        self.jitter_ms = jitter_ms
        self.loss = loss
        self.seed = seed
        self.counts = FaultCounts()
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self.loop.run_forever, name="mqtt-faults", daemon=True)
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._accept, "127.0.0.1", self.port))

    @property
    def forwarded(self) -> int:
        """Packets from the broker passed on to the client."""
        return self.counts.forwarded

    @property
    def dropped(self) -> int:
        """QoS 0 publications from the broker thrown away."""
        return self.counts.dropped

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._relay(reader, writer)
        finally:
            self._tasks.discard(task)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        upstream_reader, upstream_writer = upstream
        self._writers |= {writer, upstream_writer}
        self.counts.connections += 1
        draws = random.Random(self.seed * 1_000_003 + self.counts.connections)
        try:
            await asyncio.gather(pipe(reader, upstream_writer),
                                 self._downstream(upstream_reader, writer, draws))
        finally:
            self._writers -= {writer, upstream_writer}

    async def _downstream(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter,
                          draws: random.Random) -> None:
        """Broker to client: whole packets, each delayed (in order) or, for QoS 0 publications, lost."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        sender = asyncio.create_task(self._send_in_order(queue, sink))
        buffer, last_due = bytearray(), 0.0
        try:
            while data := await source.read(65536):
                buffer += data
                for packet in split_packets(buffer):
                    if droppable(packet) and draws.random() < self.loss:
                        self.counts.dropped += 1
                        continue
                    last_due = max(last_due, self.loop.time() + draws.uniform(0, self.jitter_ms) / 1000)
                    queue.put_nowait((last_due, packet))
        except (OSError, MalformedPacket):
            pass
        except asyncio.CancelledError:
            sender.cancel()
            raise
        finally:
            queue.put_nowait(None)
            await asyncio.gather(sender, return_exceptions=True)

    async def _send_in_order(self, queue: asyncio.Queue[tuple[float, bytes] | None],
                             sink: asyncio.StreamWriter) -> None:
        try:
            while (item := await queue.get()) is not None:
                due, packet = item
                await asyncio.sleep(max(0.0, due - self.loop.time()))
                sink.write(packet)
                await sink.drain()
                self.counts.forwarded += 1
        except OSError:
            pass
        finally:
            sink.close()

    def close(self) -> None:
        """Stop listening, cut every connection and stop the proxy's thread."""
        if self.loop.is_closed():
            return
        with contextlib.suppress(TimeoutError, RuntimeError):
            self._call(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()

    async def _close(self) -> None:
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def __enter__(self) -> MqttFaults:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy bytes as they come until either side closes."""
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except OSError:
        pass
    finally:
        sink.close()
