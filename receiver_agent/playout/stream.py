"""Plays a live stream's chunks on the sound card, every sample at its presentation time.

Chunks carry Opus packets and the presentation time (controller clock) of their first sample. A
jitter buffer holds them by sequence number; a timeline decodes them in order into one run of
samples, concealing what is missing (libopus's packet loss concealment for the first 20 ms, then
silence). The player writes that run to the sink so that the sample presented at P leaves the
speaker at local time to_local_ms(P) + latency_ms. The timing uses only the sink's delay, as the
item player does. Before every write it compares when the next sample will be heard with when it
is due: a small error is corrected inaudibly by dropping or repeating single samples (at most
0.5 % of the audio), a large one at once (skipping audio, or inserting silence). When nothing has
come for starve_ms, play() returns and other sources may play.

Sample counts are of 48 kHz mono samples (one ALSA frame each); a sample's index on the timeline
is its presentation time in 1/48 ms since the controller's epoch. "Packet" is an Opus frame.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import ctypes
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

import opuslib
import opuslib.api.decoder

from loalang_protocol.chunks import AudioChunk, Codec

from ..audio.sink import SAMPLE_BYTES, SAMPLE_RATE, AudioSink
from .player import FRAMES_PER_MS, wall_ms

log = logging.getLogger(__name__)

SAMPLES_PER_MS = FRAMES_PER_MS
PACKET_SAMPLES = 20 * SAMPLES_PER_MS  # an Opus packet, when a chunk does not say otherwise
MAX_PACKET_SAMPLES = 120 * SAMPLES_PER_MS  # the longest packet Opus allows
OPUS_LOOKAHEAD = 312  # the controller's encoder (APPLICATION_AUDIO) delays its output by 6.5 ms
BLOCK_SAMPLES = 100 * SAMPLES_PER_MS  # written per wake-up
LEAD_MS = 100.0  # kept queued on the sink (100 to 210 ms): a cut-in flushes it
LEAD_DITHER_MS = 10.0  # the lead varies by up to this much (see _dither_ms)
START_MS = LEAD_MS + 50  # the silence before the first sample: the card starts while the loop sleeps
MAX_AHEAD_MS = 20_000.0
DELAY_WINDOW_MS = 3_000.0
REMEMBERED_SEQS = 256
GOLDEN = 0.6180339887


def to_samples(us: int) -> int:
    """Microseconds as a number of samples (a presentation time as a timeline index)."""
    return (us * SAMPLE_RATE + 500_000) // 1_000_000


def chunk_span(chunk: AudioChunk) -> tuple[int, int]:
    """First and end sample of a chunk's decoded audio on the timeline."""
    start = to_samples(chunk.pts_us) - (OPUS_LOOKAHEAD if chunk.codec is Codec.OPUS else 0)
    return start, start + to_samples(chunk.duration_us)


def silence(samples: int) -> bytes:
    """That many samples of silence."""
    return bytes(max(0, samples) * SAMPLE_BYTES)


def same_time(controller_ms: float) -> float:
    """The identity: the controller's clock and the local clock agree."""
    return controller_ms


# --- decoding -------------------------------------------------------------------------------


class OpusDecoder:
    """libopus through opuslib (48 kHz mono); a lost packet is concealed, a corrupt one is silence."""

    def __init__(self) -> None:
        self._decoder = opuslib.Decoder(SAMPLE_RATE, 1)
        self.corrupt = 0
        self.concealed = 0

    def decode(self, packet: bytes, nominal_samples: int = PACKET_SAMPLES) -> bytes:
        """One packet as s16le PCM; a packet libopus refuses becomes nominal_samples of silence."""
        if not packet:
            return self.conceal(nominal_samples)
        try:
            pcm: bytes = self._decoder.decode(packet, MAX_PACKET_SAMPLES)
        except opuslib.OpusError as exc:
            self.corrupt += 1
            log.debug("corrupt Opus packet of %d bytes: %s", len(packet), exc)
            return silence(nominal_samples)
        return pcm

    def conceal(self, samples: int = PACKET_SAMPLES) -> bytes:
        """What libopus guesses a lost packet held (a NULL packet); silence when it cannot."""
        try:
            state = self._decoder.decoder_state
            pcm: bytes = opuslib.api.decoder.decode(state, None, 0, samples, False, 1)
        except (opuslib.OpusError, ctypes.ArgumentError):
            return silence(samples)
        self.concealed += 1
        return pcm


def decode_chunk(chunk: AudioChunk, decoder: OpusDecoder) -> bytes:
    """A chunk's audio as s16le PCM."""
    if chunk.codec is Codec.PCM_S16LE:
        pcm = b"".join(chunk.frames)
        return pcm[: len(pcm) - len(pcm) % SAMPLE_BYTES]
    nominal = to_samples(chunk.duration_us) // max(1, len(chunk.frames)) or PACKET_SAMPLES
    return b"".join(decoder.decode(packet, nominal) for packet in chunk.frames)


# --- buffering ------------------------------------------------------------------------------


class JitterBuffer:
    """Chunks waiting to be played, by sequence number; repeated, late and excess ones are dropped."""

    def __init__(self, max_ahead_ms: float = MAX_AHEAD_MS) -> None:
        self.max_ahead = round(max_ahead_ms * SAMPLES_PER_MS)
        self.position: int | None = None  # the next sample to be played; None before the start
        self.late = 0  # dropped because their time had passed (arrived late, or skipped to catch up)
        self.duplicates = 0
        self.overflow = 0  # dropped because they lay more than max_ahead beyond the position
        self._held: dict[int, AudioChunk] = {}
        self._taken: deque[int] = deque(maxlen=REMEMBERED_SEQS)

    def __len__(self) -> int:
        """How many chunks are held."""
        return len(self._held)

    def put(self, chunk: AudioChunk) -> bool:
        """Hold a chunk to play; False (and counted) for a repeat, a late one or one too far ahead."""
        if chunk.seq in self._held or chunk.seq in self._taken:
            self.duplicates += 1
            return False
        start, end = chunk_span(chunk)
        if self.position is not None and end <= self.position:
            self.late += 1
            return False
        if end - self._reference(start) > self.max_ahead:
            self.overflow += 1
            return False
        self._held[chunk.seq] = chunk
        return True

    def head(self) -> AudioChunk | None:
        """The chunk to play next: the lowest sequence number held."""
        return self._held[min(self._held)] if self._held else None

    def pop(self) -> AudioChunk:
        """Take the chunk to play next out of the buffer."""
        seq = min(self._held)
        self._taken.append(seq)
        return self._held.pop(seq)

    def advance(self, position: int) -> None:
        """Move the playout position on; chunks that end before it are dropped as late."""
        self.position = position
        for seq in [seq for seq, chunk in self._held.items() if chunk_span(chunk)[1] <= position]:
            del self._held[seq]
            self._taken.append(seq)
            self.late += 1

    def _reference(self, start: int) -> int:
        if self.position is not None:
            return self.position
        return min((chunk_span(chunk)[0] for chunk in self._held.values()), default=start)


class StreamTimeline:
    """The stream as one run of samples: chunks decoded in order, what is missing concealed."""

    def __init__(self, buffer: JitterBuffer, decoder: OpusDecoder) -> None:
        self.buffer = buffer
        self.decoder = decoder
        self.position = 0  # timeline index of the next sample read
        self.started = False
        self.starved = 0  # samples read in a row while the buffer held nothing
        self.chunks_played = 0
        self.last_pts_us: int | None = None
        self._pending = b""  # decoded audio from position on
        self._filler = b""  # concealment of the current gap; silence follows it
        self._missing = 0  # samples of the current gap so far

    def start(self, position: int) -> None:
        """Begin reading at this timeline index."""
        self.position = position
        self.started = True
        self.buffer.advance(position)

    def read(self, samples: int) -> bytes:
        """The next samples, always that many (concealment or silence where audio is missing)."""
        out = bytearray()
        while len(out) < samples * SAMPLE_BYTES:
            piece = self._piece(samples - len(out) // SAMPLE_BYTES)
            out += piece
            self.position += len(piece) // SAMPLE_BYTES
        self.buffer.advance(self.position)
        return bytes(out)

    def skip(self, samples: int) -> None:
        """Leave out the next samples (to catch up when late)."""
        self._pending = self._pending[samples * SAMPLE_BYTES:]
        self.position += samples
        self.buffer.advance(self.position)

    def _piece(self, wanted: int) -> bytes:
        """Up to wanted samples from the position on; empty after taking a chunk."""
        if self._pending:
            piece = self._pending[: wanted * SAMPLE_BYTES]
            self._pending = self._pending[wanted * SAMPLE_BYTES:]
            return piece
        head = self.buffer.head()
        if head is None:
            self.starved += wanted
            return self._conceal(wanted)
        start, _ = chunk_span(head)
        if start > self.position:
            return self._conceal(min(wanted, start - self.position))
        self._take(self.buffer.pop(), start)
        return b""

    def _take(self, chunk: AudioChunk, start: int) -> None:
        self._pending = decode_chunk(chunk, self.decoder)[(self.position - start) * SAMPLE_BYTES:]
        self._missing, self._filler, self.starved = 0, b"", 0
        self.chunks_played += 1
        self.last_pts_us = chunk.pts_us

    def _conceal(self, samples: int) -> bytes:
        if self._missing == 0:
            self._filler = self.decoder.conceal(PACKET_SAMPLES)
        piece = self._filler[: samples * SAMPLE_BYTES]
        self._filler = self._filler[samples * SAMPLE_BYTES:]
        self._missing += samples
        return piece + silence(samples - len(piece) // SAMPLE_BYTES)


# --- timing arithmetic ----------------------------------------------------------------------


@dataclass(frozen=True)
class SyncSettings:
    """How closely the player keeps to the presentation times."""

    resync_ms: float = 20.0  # an error this large is put right at once
    dead_band_ms: float = 0.2  # an error this small is left alone
    max_rate: float = 0.005  # gradual correction: at most 0.5 ms per 100 ms of audio


@dataclass(frozen=True)
class Correction:
    """Samples to drop (positive) or insert (negative) in the next block; resync: all at once."""

    samples: int = 0
    resync: bool = False


def correction(error_ms: float, block_samples: int, settings: SyncSettings) -> Correction:
    """What brings the next block back on time; error_ms > 0 means it would be heard late."""
    if abs(error_ms) < settings.dead_band_ms:
        return Correction()
    samples = round(error_ms * SAMPLES_PER_MS)
    if abs(error_ms) >= settings.resync_ms:
        return Correction(samples, resync=True)
    limit = int(block_samples * settings.max_rate)
    return Correction(max(-limit, min(limit, samples)))


def stretch(pcm: bytes, change: int) -> bytes:
    """Drop (change > 0) or repeat (change < 0) single samples, spread evenly over pcm."""
    count = len(pcm) // SAMPLE_BYTES
    n = min(abs(change), count)
    pieces, last = [], 0
    for i in range(n):
        cut = (i + 1) * count // (n + 1)
        sample = pcm[cut * SAMPLE_BYTES:(cut + 1) * SAMPLE_BYTES]
        pieces.append(pcm[last * SAMPLE_BYTES:cut * SAMPLE_BYTES] + (sample * 2 if change < 0 else b""))
        last = cut + 1
    pieces.append(pcm[last * SAMPLE_BYTES:])
    return b"".join(pieces)


def scale(pcm: bytes, gain: float) -> bytes:
    """Every sample multiplied by gain, clipped to 16 bits."""
    samples = array.array("h", pcm)
    return array.array("h", (max(-32768, min(32767, round(s * gain))) for s in samples)).tobytes()


class SinkClock:
    """When the next sample written to the sink will leave the speaker.

    A sink counts the period it is playing as a whole, so one reading of its delay can be late by
    up to a period; the earliest of the recent readings is the closest. After an underrun (delay
    0) the older readings no longer hold, and the idle reading itself holds only until the sink
    plays again: it was taken before the next write, so it would make that write sound early.
    """

    def __init__(self, window_ms: float = DELAY_WINDOW_MS) -> None:
        self.window_ms = window_ms
        self.written = 0  # samples written since the start
        self._readings: deque[tuple[float, float]] = deque()  # (taken at, when sample 0 sounds)
        self._idle = False  # the readings are a single one taken while the sink was empty

    def observe(self, now_ms: float, delay_samples: int) -> None:
        """Note the sink's delay as read at now_ms."""
        if delay_samples == 0 or self._idle:
            self._readings.clear()
        self._idle = delay_samples == 0
        self._readings.append((now_ms, now_ms + (delay_samples - self.written) / SAMPLES_PER_MS))
        while self._readings[0][0] < now_ms - self.window_ms:
            self._readings.popleft()

    def heard_ms(self) -> float:
        """Wall time at which the next sample written will be heard."""
        return min(origin for _, origin in self._readings) + self.written / SAMPLES_PER_MS


# --- the player -----------------------------------------------------------------------------


@dataclass
class StreamStats:
    """How the stream's playout went, for telemetry."""

    last_pts_us: int | None = None  # presentation time of the last chunk handed to the sink
    chunks_played: int = 0
    late: int = 0
    duplicates: int = 0
    overflow: int = 0
    corrupt: int = 0
    concealed: int = 0  # packets guessed by packet loss concealment
    corrections: int = 0  # blocks in which single samples were dropped or repeated
    resyncs: int = 0
    samples_dropped: int = 0
    samples_inserted: int = 0


class StreamPlayer:
    """Plays one live stream on the sink, each sample at its presentation time; cancel to stop."""

    def __init__(self, sink: AudioSink, latency_ms: float, *,
                 to_local_ms: Callable[[float], float] = same_time,
                 clock_ms: Callable[[], float] = wall_ms, starve_ms: float = 2_000.0, gain: float = 1.0,
                 sync: SyncSettings = SyncSettings(), max_ahead_ms: float = MAX_AHEAD_MS,
                 name: str = "stream") -> None:
        self.sink = sink
        self.latency_ms = latency_ms
        self.to_local_ms = to_local_ms
        self.clock_ms = clock_ms
        self.starve_ms = starve_ms
        self.gain = gain
        self.sync = sync
        self.name = name
        self.buffer = JitterBuffer(max_ahead_ms)
        self.decoder = OpusDecoder()
        self.timeline = StreamTimeline(self.buffer, self.decoder)
        self.sink_clock = SinkClock()
        self._counts = StreamStats()
        self._arrived = asyncio.Event()
        self._wake_ups = 0

    def put(self, chunk: AudioChunk) -> bool:
        """Hand over a verified chunk; False when it was dropped (a repeat, late, or too far ahead)."""
        accepted = self.buffer.put(chunk)
        if accepted:
            self._arrived.set()
        return accepted

    @property
    def stats(self) -> StreamStats:
        """The counts so far and the presentation time of the last chunk played."""
        return replace(self._counts, last_pts_us=self.timeline.last_pts_us,
                       chunks_played=self.timeline.chunks_played, late=self.buffer.late,
                       duplicates=self.buffer.duplicates, overflow=self.buffer.overflow,
                       corrupt=self.decoder.corrupt, concealed=self.decoder.concealed)

    def position_us(self) -> int | None:
        """Presentation time of the sample leaving the speaker now; None before the start."""
        if not self.timeline.started:
            return None
        return (self.timeline.position - self.sink.delay_frames()) * 1_000_000 // SAMPLE_RATE

    async def play(self) -> None:
        """Play until nothing has come for starve_ms, then return (other sources may play)."""
        if not await self._first_chunk():
            log.info("%s: nothing came within %.0f ms", self.name, self.starve_ms)
            return
        await self._start()
        await self._keep_lead()
        while not self._starved():
            await self._play_block()
            await self._keep_lead()
        log.info("%s: nothing to play for %.0f ms, stopping: %s", self.name, self.starve_ms, self.stats)

    def _starved(self) -> bool:
        """Whether the speaker has played starve_ms of nothing (the stream stopped)."""
        heard = self.timeline.starved - self.sink.delay_frames()
        return heard >= self.starve_ms * SAMPLES_PER_MS

    async def _first_chunk(self) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.starve_ms / 1000):
                await self._arrived.wait()
        return self.buffer.head() is not None

    async def _start(self) -> None:
        """Wait until the first sample is nearly due, then write silence up to it (or skip if late)."""
        await self._wait_for_first_sample()
        self.timeline.start(self._first_sample())
        self._observe()
        error = self._error_ms()
        if error > 0:
            self.timeline.skip(round(error * SAMPLES_PER_MS))
        else:
            await self._insert_silence(round(-error * SAMPLES_PER_MS))
        log.info("%s: starting %.1f ms %s", self.name, abs(error), "late" if error > 0 else "ahead")

    async def _wait_for_first_sample(self) -> None:
        """Sleep until START_MS before the first sample is due (an earlier chunk may still come)."""
        while (remaining := self._ms_to_start()) > 0:  # noqa: ASYNC110 - waiting for a wall-clock time
            await asyncio.sleep(min(remaining / 1000, 0.5))

    def _ms_to_start(self) -> float:
        return self._due_ms(self._first_sample()) - START_MS - self.clock_ms()

    def _first_sample(self) -> int:
        head = self.buffer.head()
        assert head is not None, "the buffer only empties once playing"
        return chunk_span(head)[0]

    async def _play_block(self) -> None:
        """Write the next block, corrected towards its due time."""
        self._observe()
        fix = correction(self._error_ms(), BLOCK_SAMPLES, self.sync)
        if fix.resync:
            await self._resync(fix.samples)
        pcm = self.timeline.read(BLOCK_SAMPLES)
        if fix.samples and not fix.resync:
            pcm = stretch(pcm, fix.samples)
            self._count(fix)
        await self._write(self._gained(pcm))

    async def _resync(self, samples: int) -> None:
        """Put a large error right at once: skip audio when late, insert silence when early."""
        log.info("%s: %.1f ms %s, resyncing", self.name, abs(samples) / SAMPLES_PER_MS,
                 "late" if samples > 0 else "early")
        if samples > 0:
            self.timeline.skip(samples)
        else:
            await self._insert_silence(-samples)
        self._count(Correction(samples, resync=True))

    async def _insert_silence(self, samples: int) -> None:
        """Write silence a block at a time, keeping no more than the lead queued."""
        while samples > 0:
            piece = min(samples, BLOCK_SAMPLES)
            await self._write(silence(piece))
            samples -= piece
            if samples > 0:
                await self._keep_lead()

    def _count(self, fix: Correction) -> None:
        if fix.resync:
            self._counts.resyncs += 1
        else:
            self._counts.corrections += 1
        if fix.samples > 0:
            self._counts.samples_dropped += fix.samples
        else:
            self._counts.samples_inserted -= fix.samples

    def _gained(self, pcm: bytes) -> bytes:
        gain = self.sink.software_gain * self.gain
        return pcm if gain == 1.0 else scale(pcm, gain)

    def _due_ms(self, sample: int) -> float:
        """Local wall time at which a timeline sample must leave the speaker."""
        return self.to_local_ms(sample / SAMPLES_PER_MS) + self.latency_ms

    def _observe(self) -> int:
        """Read the sink's delay (noting it for the timing) and return it."""
        delay = self.sink.delay_frames()  # read before the clock: a reading is never early
        self.sink_clock.observe(self.clock_ms(), delay)
        return delay

    def _error_ms(self) -> float:
        """How late the next sample written would be heard (negative: early)."""
        return self.sink_clock.heard_ms() - self._due_ms(self.timeline.position)

    async def _write(self, pcm: bytes) -> None:
        while pcm:
            accepted = self.sink.write(pcm)
            self.sink_clock.written += accepted // SAMPLE_BYTES
            pcm = pcm[accepted:]
            if pcm:
                await asyncio.sleep(0.01)

    async def _keep_lead(self) -> None:
        """Wait until the sink's queue is down to the lead, sleeping as long as the excess lasts."""
        lead = (LEAD_MS + self._dither_ms()) * SAMPLES_PER_MS
        while (excess := self._observe() - lead) > 0:  # noqa: ASYNC110 - polled like ALSA
            await asyncio.sleep(max(0.005, excess / SAMPLE_RATE))

    def _dither_ms(self) -> float:
        """A lead varied over a period, so that the delay is read at every phase of the sink's period."""
        self._wake_ups += 1
        return LEAD_DITHER_MS * (self._wake_ups * GOLDEN % 1)
