"""PCM in, signed-ready audio chunks out: Opus frames grouped into chunks with presentation times.

Presentation times are in the controller's clock. They are counted in samples from an anchor,
so that consecutive chunks join without a gap, and the anchor is the arrival of the first audio
(minus its own length: the audio was captured before it arrived). A source whose clock runs
slower than the controller's, or that stalls, falls behind its arrival; one whose clock runs
faster, or that sends a burst (a relay's server sends several seconds at once when a listener
connects), runs ahead. Falling behind by more than `max_lag_ms` re-anchors at the arrival and
marks the next chunk as a discontinuity; running ahead by more than `max_lead_ms` does the same
for a live microphone, where the delay matters, and is simply held back for a relay (the
session publishes each chunk shortly before its time).
"""

from __future__ import annotations

from dataclasses import dataclass

import opuslib

from loalang_protocol.chunks import AudioChunk, Codec

SAMPLE_RATE = 48_000
SAMPLE_BYTES = 2
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * SAMPLE_BYTES


@dataclass(frozen=True)
class ChunkerSettings:
    """How audio is cut and encoded."""

    chunk_ms: int = 200
    bitrate: int = 32_000
    max_lag_ms: int = 300
    max_lead_ms: int | None = 300  # None: a source may run ahead (a relay's burst)


class OpusEncoder:
    """libopus through opuslib: 20 ms frames of 48 kHz mono s16le in, Opus packets out."""

    def __init__(self, bitrate: int) -> None:
        self._encoder = opuslib.Encoder(SAMPLE_RATE, 1, opuslib.APPLICATION_AUDIO)
        self._encoder.bitrate = bitrate

    def encode(self, frame: bytes) -> bytes:
        """One 20 ms frame."""
        packet: bytes = self._encoder.encode(frame, FRAME_SAMPLES)
        return packet


class Chunker:
    """Cuts a source's PCM into Opus chunks numbered from 0, timed in the controller's clock."""

    def __init__(self, settings: ChunkerSettings) -> None:
        if settings.chunk_ms % FRAME_MS or not FRAME_MS <= settings.chunk_ms <= 1000:
            raise ValueError(f"chunks last a multiple of {FRAME_MS} ms up to 1 s")
        self.settings = settings
        self._encoder = OpusEncoder(settings.bitrate)
        self._pending = bytearray()
        self._anchor_us: int | None = None  # presentation time of the first pending sample
        self._discontinuity = False
        self.next_seq = 0
        self.reanchored = 0

    def feed(self, pcm: bytes, arrived_us: int) -> list[AudioChunk]:
        """Add PCM that arrived at arrived_us (controller clock); returns the chunks now complete."""
        pcm = pcm[: len(pcm) - len(pcm) % SAMPLE_BYTES]
        captured_us = arrived_us - _duration_us(len(pcm))
        if self._anchor_us is None:
            self._anchor_us = captured_us - _duration_us(len(self._pending))
        else:
            self._check_anchor(captured_us)
        self._pending += pcm
        chunks = []
        chunk_bytes = self.settings.chunk_ms * SAMPLE_RATE // 1000 * SAMPLE_BYTES
        while len(self._pending) >= chunk_bytes:
            chunks.append(self._cut(bytes(self._pending[:chunk_bytes])))
            del self._pending[:chunk_bytes]
        return chunks

    def flush(self) -> list[AudioChunk]:
        """The audio still pending when the source ends, as a last chunk padded to whole frames."""
        if not self._pending or self._anchor_us is None:
            return []
        self._pending += bytes(-len(self._pending) % FRAME_BYTES)
        last = self._cut(bytes(self._pending))
        self._pending.clear()
        return [last]

    def _check_anchor(self, captured_us: int) -> None:
        """Re-anchor when the counted time strays too far from the arrivals."""
        assert self._anchor_us is not None
        counted_us = self._anchor_us + _duration_us(len(self._pending))
        drift_ms = (counted_us - captured_us) / 1000
        too_far_ahead = self.settings.max_lead_ms is not None and drift_ms > self.settings.max_lead_ms
        if drift_ms < -self.settings.max_lag_ms or too_far_ahead:
            self._anchor_us = captured_us - _duration_us(len(self._pending))
            self._discontinuity = True
            self.reanchored += 1

    def _cut(self, pcm: bytes) -> AudioChunk:
        assert self._anchor_us is not None
        frames = tuple(self._encoder.encode(pcm[i:i + FRAME_BYTES]) for i in range(0, len(pcm), FRAME_BYTES))
        chunk = AudioChunk(seq=self.next_seq, pts_us=self._anchor_us, duration_us=_duration_us(len(pcm)),
                           frames=frames, codec=Codec.OPUS, discontinuity=self._discontinuity)
        self.next_seq += 1
        self._anchor_us += chunk.duration_us
        self._discontinuity = False
        return chunk


def _duration_us(pcm_bytes: int) -> int:
    return pcm_bytes // SAMPLE_BYTES * 1_000_000 // SAMPLE_RATE
