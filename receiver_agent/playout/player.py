"""Feeds one item's PCM to the sound card so that its first sample sounds at a chosen instant.

The timing uses only what the card reports, the same way for ALSA and the simulated card: the
frames still queued ahead (its delay). Before the start, silence fills the gap between what the
card has queued and the start instant; while playing, the writer keeps a short lead so that a
cut-in (flush) is heard at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..audio.sink import SAMPLE_BYTES, SAMPLE_RATE, AudioSink
from .decoder import PcmSource

FRAMES_PER_MS = SAMPLE_RATE // 1000
WRITE_AHEAD_FRAMES = 30 * 480  # 300 ms queued: a cut-in flushes it; a slow fsync cannot starve it
READ_BYTES = 10 * 480 * SAMPLE_BYTES  # 100 ms per read: few wake-ups while playing
PREROLL_BYTES = 10 * 480 * SAMPLE_BYTES
QUEUE_GROWTH_MS = 150  # another source's player adds up to a read (100 ms) to the card's queue
DRAIN_MARGIN_S = 0.05  # beyond the queue the card reported at the end, before the item counts as played


def wall_ms() -> float:
    """Wall-clock time in milliseconds (float)."""
    return time.time() * 1000


@dataclass
class Progress:
    """How far the item got."""

    started_wall_ms: float | None = None  # on the player's clock (the agent's time)
    started_system_s: float | None = None  # on the system clock, as a microphone stamps what it hears
    audio_frames_written: int = 0
    pad_frames: int = 0
    opening: bytearray = field(default_factory=bytearray)  # the first audio written, for the hearing check


class Player:
    """Plays one decoder's output on the sink; cancel the task to stop it."""

    def __init__(self, sink: AudioSink, clock_ms: Callable[[], float] = wall_ms,
                 keep_opening_s: float = 0.0) -> None:
        self.sink = sink
        self.clock_ms = clock_ms
        self.opening_bytes = round(keep_opening_s * SAMPLE_RATE) * SAMPLE_BYTES  # kept in Progress.opening

    async def play(self, decoder: PcmSource, start_at_ms: float, progress: Progress,
                   on_started: Callable[[float], None] | None = None, first: bytes | None = None) -> None:
        """Play decoder's PCM from start_at_ms (now if past) until its end; raises DecodeError.

        first is PCM already read from the decoder (a pre-roll made ahead of time).
        """
        if first is None:
            first = await self.preroll(decoder)
        await self._wake_before(start_at_ms)
        pad = round((start_at_ms - self.clock_ms()) * FRAMES_PER_MS) - self.sink.delay_frames()
        if pad > 0:
            await self._write(bytes(pad * SAMPLE_BYTES))
            progress.pad_frames = pad
        ahead_ms = self.sink.delay_frames() / FRAMES_PER_MS
        progress.started_wall_ms = self.clock_ms() + ahead_ms
        progress.started_system_s = time.time() + ahead_ms / 1000
        if on_started is not None:
            on_started(progress.started_wall_ms)
        chunk = first
        while chunk:
            if len(progress.opening) < self.opening_bytes:
                progress.opening += chunk[: self.opening_bytes - len(progress.opening)]
            await self._write(chunk)
            progress.audio_frames_written += len(chunk) // SAMPLE_BYTES
            await self._keep_lead()
            chunk = await decoder.read(READ_BYTES)
        await self._drain()

    async def _drain(self) -> None:
        """Wait until the card has played what was written: its queue is empty, or as long as the
        queue said it held when the last audio went in. (A sound server's ALSA device, PulseAudio's or
        PipeWire's, goes on reporting its own latency as a delay once it has nothing left to play.)"""
        deadline = time.monotonic() + self.sink.delay_frames() / SAMPLE_RATE + DRAIN_MARGIN_S
        while self.sink.delay_frames() > 0 and time.monotonic() < deadline:  # noqa: ASYNC110 - polled as ALSA
            await asyncio.sleep(0.01)

    async def preroll(self, decoder: PcmSource) -> bytes:
        """Read the first 100 ms, so that the start does not wait for ffmpeg."""
        data = b""
        while len(data) < PREROLL_BYTES:
            chunk = await decoder.read(PREROLL_BYTES - len(data))
            if not chunk:
                break
            data += chunk
        return data[: len(data) - len(data) % SAMPLE_BYTES]

    async def _wake_before(self, start_at_ms: float) -> None:
        """Sleep until 30 ms before the first write must go in: the start instant less what the card
        holds ahead of it. On a free card that is nothing; under an announcement it is a background
        programme's queue, which its own player may lengthen by a read while this one sleeps."""
        def remaining_ms() -> float:
            ahead = self.sink.delay_frames() / FRAMES_PER_MS
            return start_at_ms - 30 - (ahead + QUEUE_GROWTH_MS if ahead else 0) - self.clock_ms()
        while (remaining := remaining_ms()) > 0:  # noqa: ASYNC110 - waiting for a wall-clock time
            await asyncio.sleep(min(remaining / 1000, 0.5))

    async def _write(self, pcm: bytes) -> None:
        while pcm:
            accepted = self.sink.write(pcm)
            pcm = pcm[accepted:]
            if pcm:
                await asyncio.sleep(0.01)

    async def _keep_lead(self) -> None:
        """Wait until the card's queue is down to the lead, sleeping as long as the excess lasts."""
        while (excess := self.sink.delay_frames() - WRITE_AHEAD_FRAMES) > 0:  # noqa: ASYNC110 - polled like ALSA
            await asyncio.sleep(max(0.01, excess / SAMPLE_RATE))

    def position_ms(self, progress: Progress, start_position_ms: int) -> int:
        """Where in the item the listener is now."""
        played = max(0, progress.audio_frames_written - self.sink.delay_frames())
        return start_position_ms + played // FRAMES_PER_MS
