"""The chunker: Opus chunks that join without gaps, timed from arrivals, re-anchored when a source strays."""

from __future__ import annotations

import itertools

import numpy as np
import opuslib
import pytest

from controller.live.chunker import SAMPLE_RATE, Chunker, ChunkerSettings

pytestmark = pytest.mark.unit

T0_US = 1_800_000_000_000_000


def tone(ms: int, frequency: float = 1000.0, start_sample: int = 0) -> bytes:
    n = np.arange(start_sample, start_sample + SAMPLE_RATE * ms // 1000)
    return (np.sin(2 * np.pi * frequency * n / SAMPLE_RATE) * 12_000).astype("<i2").tobytes()


def feed_realtime(chunker: Chunker, total_ms: int, block_ms: int = 20, clock_error_ppm: float = 0.0,
                  start_us: int = T0_US) -> list:
    chunks, sample = [], 0
    for index in range(total_ms // block_ms):
        block = tone(block_ms, start_sample=sample)
        sample += len(block) // 2
        arrived = start_us + int((index + 1) * block_ms * 1000 * (1 + clock_error_ppm / 1e6))
        chunks += chunker.feed(block, arrived)
    return chunks


def test_chunks_join_without_gaps_and_carry_the_audio() -> None:
    chunks = feed_realtime(Chunker(ChunkerSettings(chunk_ms=200)), 2000)
    assert [c.seq for c in chunks] == list(range(10))
    assert chunks[0].pts_us == T0_US and all(c.duration_us == 200_000 for c in chunks)
    assert all(b.pts_us == a.pts_us + a.duration_us for a, b in itertools.pairwise(chunks))
    assert all(len(c.frames) == 10 for c in chunks) and not any(c.discontinuity for c in chunks)
    decoder = opuslib.Decoder(SAMPLE_RATE, 1)
    pcm = b"".join(decoder.decode(frame, 960) for c in chunks for frame in c.frames)
    samples = np.frombuffer(pcm, "<i2").astype(float)[SAMPLE_RATE // 2:]
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(samples) - 1000) < 5, "the tone comes through"
    payload = sum(len(f) for c in chunks for f in c.frames) / len(chunks)
    assert 500 < payload < 1200, f"32 kbit/s for 200 ms is about 800 bytes, not {payload}"


def test_a_stalled_source_is_re_anchored_at_its_arrival_with_a_discontinuity() -> None:
    chunker = Chunker(ChunkerSettings(chunk_ms=200))
    before = feed_realtime(chunker, 1000)
    after = feed_realtime(chunker, 1000, start_us=T0_US + 3_000_000)  # 2 s without audio
    assert chunker.reanchored == 1
    assert after[0].discontinuity and after[0].pts_us >= T0_US + 2_900_000
    assert after[0].seq == before[-1].seq + 1, "sequence numbers go on"


@pytest.mark.parametrize(("max_lead_ms", "reanchors"), [(300, 1), (None, 0)])
def test_a_fast_source_is_pulled_back_only_when_the_delay_matters(max_lead_ms: int | None,
                                                                  reanchors: int) -> None:
    chunker = Chunker(ChunkerSettings(chunk_ms=200, max_lead_ms=max_lead_ms))
    chunks = feed_realtime(chunker, 60_000, clock_error_ppm=-10_000)  # 1 % fast: 600 ms ahead in a minute
    assert chunker.reanchored == reanchors
    assert sum(c.discontinuity for c in chunks) == reanchors


def test_a_burst_counts_as_audio_captured_before_it_arrived() -> None:
    chunker = Chunker(ChunkerSettings(chunk_ms=200, max_lead_ms=None))
    chunks = chunker.feed(tone(5000), T0_US)  # a relay's server sends 5 s at once to a new listener
    chunks += feed_realtime(chunker, 1000, start_us=T0_US)
    assert chunks[0].pts_us == T0_US - 5_000_000 and chunker.reanchored == 0
    assert all(b.pts_us == a.pts_us + a.duration_us for a, b in itertools.pairwise(chunks))


def test_a_slow_clock_drifts_until_the_lag_limit_then_re_anchors_once() -> None:
    chunker = Chunker(ChunkerSettings(chunk_ms=200, max_lag_ms=300))
    chunks = feed_realtime(chunker, 60_000, clock_error_ppm=10_000)  # 1 % slow: 600 ms behind in a minute
    assert chunker.reanchored == 1 and sum(c.discontinuity for c in chunks) == 1


def test_chunk_lengths_must_be_whole_frames() -> None:
    with pytest.raises(ValueError, match="multiple of 20 ms"):
        Chunker(ChunkerSettings(chunk_ms=210))


def test_the_audio_left_when_the_source_ends_is_a_last_chunk_of_whole_frames() -> None:
    chunker = Chunker(ChunkerSettings(chunk_ms=200))
    chunks = chunker.feed(tone(250), T0_US + 250_000)
    assert len(chunks) == 1
    last = chunker.flush()
    assert len(last) == 1 and last[0].seq == 1 and last[0].pts_us == T0_US + 200_000
    assert last[0].duration_us == 60_000 and len(last[0].frames) == 3, "50 ms padded to three 20 ms frames"
    assert chunker.flush() == [], "nothing twice"
