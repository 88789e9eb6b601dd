"""The live-stream player: real Opus chunks played on the simulated card, timed from its recording."""

from __future__ import annotations

import array
import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import opuslib
import pytest

from loalang_protocol.chunks import AudioChunk, Codec
from receiver_agent.audio.simulated import SimulatedSoundCard, read_recording
from receiver_agent.audio.tone import sine
from receiver_agent.playout.stream import (
    OPUS_LOOKAHEAD,
    PACKET_SAMPLES,
    Correction,
    JitterBuffer,
    OpusDecoder,
    SinkClock,
    StreamPlayer,
    StreamTimeline,
    SyncSettings,
    chunk_span,
    correction,
    same_time,
    scale,
    stretch,
)
from tests.testkit import tone_onset

pytestmark = pytest.mark.unit

LATENCY_MS = 200.0
CHUNK_MS = 200
# the simulated card's thread logs each period when it wakes: on a machine loaded by the rest of the
# suite that was 6 ms late once (typically well under 1 ms; benchmarks/live.py measures it)
ONSET_TOLERANCE_MS = 10.0
LOUD = 3000  # a sample this loud is tone; the tones peak at 16 000
CORRUPT = b"\xff\xff\xff"  # libopus refuses it ("corrupted stream")
PAUSE = bytes(40 * 96)  # 40 ms between two tones, so that the second one's onset is clear


def _chunks(pcm: bytes, pts_ms: float, chunk_ms: int = CHUNK_MS) -> list[AudioChunk]:
    """PCM cut into chunks of 20 ms Opus packets, numbered from 0, the first presented at pts_ms."""
    encoder = opuslib.Encoder(48_000, 1, opuslib.APPLICATION_AUDIO)
    chunk_bytes = chunk_ms * 96
    pcm += bytes(-len(pcm) % chunk_bytes)
    chunks = []
    for seq, at in enumerate(range(0, len(pcm), chunk_bytes)):
        part = pcm[at:at + chunk_bytes]
        packets = tuple(encoder.encode(part[i:i + 1920], 960) for i in range(0, chunk_bytes, 1920))
        pts_us = round(pts_ms * 1000) + seq * chunk_ms * 1000
        chunks.append(AudioChunk(seq=seq, pts_us=pts_us, duration_us=chunk_ms * 1000, frames=packets))
    return chunks


def _soon(ahead_ms: float = 300.0) -> float:
    """A presentation time shortly ahead (the controller's clock is the local one unless shifted)."""
    return time.time() * 1000 + ahead_ms


def _play(card: SimulatedSoundCard, player: StreamPlayer, chunks: list[AudioChunk]) -> float:
    """Hand all chunks over, play until the player returns, let the card drain; returns the wall ms."""
    for chunk in chunks:
        assert player.put(chunk)
    asyncio.run(player.play())
    returned = time.time() * 1000
    time.sleep(0.3)
    card.close()
    return returned


def _samples(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The card's recording and the wall time (ms) of every sample in it."""
    pcm, times = read_recording(folder)
    samples = np.abs(np.frombuffer(pcm, dtype="<i2").astype(float))
    walls = np.repeat([wall * 1000 for _, wall in times], 480) + np.tile(np.arange(480) / 48, len(times))
    return samples, walls


def _quiet_spans(folder: Path, at_least_ms: float = 5.0) -> list[tuple[float, float]]:
    """(start wall ms, length ms) of every quiet stretch between two loud samples of the recording."""
    samples, walls = _samples(folder)
    loud = np.flatnonzero(samples > LOUD)
    gaps = np.flatnonzero(np.diff(loud) > at_least_ms * 48)
    return [(float(walls[loud[i]]), float(walls[loud[i + 1]] - walls[loud[i]])) for i in gaps]


def _player(card: SimulatedSoundCard, to_local_ms: Callable[[float], float] = same_time,
            gain: float = 1.0) -> StreamPlayer:
    return StreamPlayer(card, LATENCY_MS, to_local_ms=to_local_ms, starve_ms=300.0, gain=gain)


def _wall_clock_jump(after_s: float, jump_ms: float) -> Callable[[float], float]:
    """A clock offset estimate that changes by jump_ms after_s from now."""
    jump_at = time.time() + after_s
    return lambda controller_ms: controller_ms + (jump_ms if time.time() > jump_at else 0.0)


# --- on the simulated card ------------------------------------------------------------------


def test_tone_starts_at_its_presentation_time_plus_latency(tmp_path: Path) -> None:
    card = SimulatedSoundCard(tmp_path)
    start = _soon()
    _play(card, _player(card), _chunks(sine(1000, 0.6), start))
    onset = tone_onset(tmp_path, 1000)
    assert onset is not None
    error_ms = onset * 1000 - (start + LATENCY_MS)
    print(f"onset error {error_ms:.2f} ms")
    assert abs(error_ms) < ONSET_TOLERANCE_MS


def test_a_clock_offset_moves_the_onset_by_as_much(tmp_path: Path) -> None:
    card = SimulatedSoundCard(tmp_path)
    start = _soon()
    _play(card, _player(card, to_local_ms=lambda ms: ms + 300.0), _chunks(sine(1000, 0.6), start))
    onset = tone_onset(tmp_path, 1000)
    assert onset is not None
    error_ms = onset * 1000 - (start + 300.0 + LATENCY_MS)
    print(f"onset error with a 300 ms offset {error_ms:.2f} ms")
    assert abs(error_ms) < ONSET_TOLERANCE_MS


def test_a_missing_chunk_is_a_silent_gap_and_the_rest_stays_on_time(tmp_path: Path) -> None:
    card = SimulatedSoundCard(tmp_path)
    start = _soon()
    chunks = _chunks(sine(1000, 0.8) + PAUSE + sine(2000, 0.36), start)
    del chunks[2]  # 400 to 600 ms
    player = _player(card)
    _play(card, player, chunks)
    gaps = [(at - start - LATENCY_MS, length) for at, length in _quiet_spans(tmp_path) if length > 50]
    assert len(gaps) == 1, gaps
    (gap_at, gap_ms), = gaps
    print(f"gap at {gap_at:.1f} ms for {gap_ms:.1f} ms")
    assert 390 <= gap_at <= 420, "concealment fades within the first 20 ms"  # Opus: 6.5 ms ahead
    assert 170 <= gap_ms <= 205
    onset = tone_onset(tmp_path, 2000)
    assert onset is not None
    error_ms = onset * 1000 - (start + 840 + LATENCY_MS)
    print(f"the audio after the gap is off by {error_ms:.2f} ms")
    assert abs(error_ms) < ONSET_TOLERANCE_MS
    assert player.stats.chunks_played == 5
    assert player.stats.concealed >= 1


def test_duplicates_late_and_far_chunks_are_dropped_and_counted(tmp_path: Path) -> None:
    card = SimulatedSoundCard(tmp_path)
    start = _soon()
    chunks = _chunks(sine(1000, 1.0), start)
    player = _player(card)
    for chunk in chunks[:2] + chunks[3:]:
        assert player.put(chunk)
    assert not player.put(chunks[1]), "a repeat of a chunk held"
    assert not player.put(replace(chunks[0], seq=99, pts_us=chunks[0].pts_us + 30_000_000)), "30 s ahead"

    async def meanwhile() -> None:
        task = asyncio.create_task(player.play())
        await asyncio.sleep((start + LATENCY_MS + 700 - time.time() * 1000) / 1000)
        assert not player.put(chunks[2]), "its time (400 to 600 ms) has passed"
        assert not player.put(chunks[0]), "a repeat of a chunk played"
        await task

    asyncio.run(meanwhile())
    card.close()
    stats = player.stats
    assert (stats.late, stats.duplicates, stats.overflow, stats.chunks_played) == (1, 2, 1, 4)


def test_play_returns_about_starve_ms_after_the_chunks_stop(tmp_path: Path) -> None:
    card = SimulatedSoundCard(tmp_path)
    start = _soon()
    player = StreamPlayer(card, LATENCY_MS, starve_ms=1000.0)
    returned = _play(card, player, _chunks(sine(1000, 0.4), start))
    after_ms = returned - (start + 400 + LATENCY_MS)
    print(f"returned {after_ms:.0f} ms after the end of the audio was due")
    assert 1000 - 50 <= after_ms <= 1000 + 200  # checked every 100 ms
    assert player.stats.chunks_played == 2


def test_play_returns_after_starve_ms_when_nothing_comes(tmp_path: Path) -> None:
    card = SimulatedSoundCard(tmp_path)
    began = time.monotonic()
    asyncio.run(StreamPlayer(card, LATENCY_MS, starve_ms=300.0).play())
    card.close()
    assert 0.29 <= time.monotonic() - began <= 0.45
    assert read_recording(tmp_path) == (b"", [])


def test_cancelling_stops_at_once(tmp_path: Path) -> None:
    card = SimulatedSoundCard(tmp_path)
    player = _player(card)
    for chunk in _chunks(sine(1000, 2.0), _soon()):
        player.put(chunk)

    async def cancel_while_playing() -> float:
        task = asyncio.create_task(player.play())
        await asyncio.sleep(0.8)
        cancelled = time.time() * 1000
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        card.flush()
        assert time.time() * 1000 - cancelled < 20
        return cancelled

    cancelled = asyncio.run(cancel_while_playing())
    time.sleep(0.2)
    card.close()
    samples, walls = _samples(tmp_path)
    last_loud = walls[np.flatnonzero(samples > LOUD)[-1]]
    assert last_loud - cancelled < 25, "only the period being played finishes"


def test_slow_drift_of_the_clock_offset_is_followed_gradually(tmp_path: Path) -> None:
    card = SimulatedSoundCard(tmp_path)
    start = _soon()
    seconds, drift_ms_per_s = 7.0, 1.0
    player = _player(card, to_local_ms=lambda ms: ms + drift_ms_per_s * (ms - start) / 1000)
    _play(card, player, _chunks(sine(1000, seconds), start))
    stats = player.stats
    drift_samples = drift_ms_per_s * seconds * 48
    print(f"drift of {drift_samples:.0f} samples: {stats}")
    assert stats.resyncs == 0
    assert stats.corrections >= 3
    # Followed: the samples put in, less those taken out, make up the drift. Under load (a full run,
    # three workers on two cores) the card's delay readings jitter by a millisecond or two and the
    # player corrects both ways (seen, at 0.3 ms/s: 177 in, 85 out for a drift of 101, and 148 in, 113
    # out); at 1 ms/s, still gradual (0.5 % at most), the drift stands above that noise (nets of 322
    # to 340 for 336 with three busy loops beside). Each correction is one sample, inaudible: what
    # matters besides the net is that the churn stays small.
    net = stats.samples_inserted - stats.samples_dropped
    assert 0.5 * drift_samples <= net <= 1.5 * drift_samples, stats
    assert stats.samples_inserted + stats.samples_dropped <= 4 * drift_samples, stats


def test_a_jump_of_the_clock_offset_resyncs_once(tmp_path: Path) -> None:
    card = SimulatedSoundCard(tmp_path)
    start = _soon()
    player = _player(card, to_local_ms=_wall_clock_jump(after_s=1.0, jump_ms=100.0))
    _play(card, player, _chunks(sine(1000, 1.6) + PAUSE + sine(2000, 0.36), start))
    stats = player.stats
    assert stats.resyncs == 1
    # about the 100 ms of the jump; the small corrections that follow the card add a few ms more on a
    # loaded machine (146 samples once); the one 100 ms gap below is the jump itself
    assert abs(stats.samples_inserted - 4800) <= 300, "about the 100 ms of the jump"
    inserted = [length for _, length in _quiet_spans(tmp_path) if length > 50]
    assert len(inserted) == 1 and abs(inserted[0] - 100) < 5, inserted
    onset = tone_onset(tmp_path, 2000)
    assert onset is not None
    error_ms = onset * 1000 - (start + 1640 + 100 + LATENCY_MS)
    print(f"after the jump the audio is off by {error_ms:.2f} ms")
    assert abs(error_ms) < ONSET_TOLERANCE_MS


def test_a_corrupt_packet_becomes_silence_and_is_counted(tmp_path: Path) -> None:
    card = SimulatedSoundCard(tmp_path)
    start = _soon()
    chunks = _chunks(sine(1000, 0.6), start)
    damaged = (*chunks[1].frames[:3], CORRUPT, *chunks[1].frames[4:])  # 260 to 280 ms
    chunks[1] = replace(chunks[1], frames=damaged)
    player = _player(card)
    _play(card, player, chunks)
    assert player.stats.corrupt == 1
    assert player.stats.chunks_played == 3
    (gap_start, gap_ms), = _quiet_spans(tmp_path)
    gap_at = gap_start - start - LATENCY_MS
    print(f"silence at {gap_at:.1f} ms for {gap_ms:.1f} ms")
    assert abs(gap_at - (260 - OPUS_LOOKAHEAD / 48)) < ONSET_TOLERANCE_MS, "the packet's own 20 ms"
    assert 15 <= gap_ms <= 25


def test_the_sinks_software_gain_and_the_players_gain_apply(tmp_path: Path) -> None:
    card = SimulatedSoundCard(tmp_path)
    card.software_gain = 0.5
    _play(card, _player(card, gain=0.5), _chunks(sine(1000, 0.3), _soon(100)))
    samples, _ = _samples(tmp_path)
    assert 0.2 * 16_383 < samples.max() < 0.3 * 16_383


# --- the parts, without a card --------------------------------------------------------------


def test_correction_leaves_small_errors_corrects_gradually_and_resyncs_large_ones() -> None:
    settings = SyncSettings()
    assert correction(0.1, 4800, settings) == Correction()
    assert correction(1.0, 4800, settings) == Correction(24)  # 0.5 ms per 100 ms at most
    assert correction(-0.3, 4800, settings) == Correction(-14)
    assert correction(-5.0, 4800, settings) == Correction(-24)
    assert correction(25.0, 4800, settings) == Correction(1200, resync=True)
    assert correction(-100.0, 4800, settings) == Correction(-4800, resync=True)


def test_stretch_drops_or_repeats_single_samples_spread_out() -> None:
    pcm = array.array("h", range(100)).tobytes()
    dropped = array.array("h", stretch(pcm, 3))
    assert len(dropped) == 97 and [s for s in range(100) if s not in dropped] == [25, 50, 75]
    repeated = array.array("h", stretch(pcm, -2))
    assert len(repeated) == 102 and [s for s in range(100) if repeated.count(s) == 2] == [33, 66]
    assert stretch(pcm, 0) == pcm


def test_scale_multiplies_and_clips() -> None:
    pcm = array.array("h", [1000, -1000, 30_000, -30_000]).tobytes()
    assert array.array("h", scale(pcm, 2.0)).tolist() == [2000, -2000, 32767, -32768]


def _delay(now_ms: float, written: int, origin_ms: float) -> int:
    """The delay a sink reports when written sample 0 sounds at origin_ms."""
    return written - round((now_ms - origin_ms) * 48)


def test_sink_clock_takes_the_earliest_recent_reading() -> None:
    clock = SinkClock(window_ms=1000)
    clock.observe(0.0, _delay(0.0, 0, 10.0))  # sample 0 sounds at 10 ms
    clock.written = 4800
    clock.observe(50.0, _delay(50.0, 4800, 15.0))  # half a period played: the reading is 5 ms late
    assert clock.heard_ms() == 10.0 + 100
    clock.written = 62_400
    clock.observe(1200.0, _delay(1200.0, 62_400, 15.0))  # the right reading has left the window
    assert clock.heard_ms() == 15.0 + 1300
    clock.observe(1300.0, 0)  # an underrun: the sink starts again when written to
    assert clock.heard_ms() == 1300.0


def test_jitter_buffer_orders_and_drops() -> None:
    chunks = _chunks(sine(1000, 1.0), 1_000_000.0)
    buffer = JitterBuffer(max_ahead_ms=1000)
    assert buffer.put(chunks[2]) and buffer.put(chunks[0])
    assert not buffer.put(chunks[0])
    assert buffer.head() is chunks[0]
    far = replace(chunks[0], seq=9, pts_us=chunks[0].pts_us + 1_000_000)
    assert not buffer.put(far), "ends more than max_ahead after the first chunk"
    buffer.advance(chunk_span(chunks[2])[1])
    assert buffer.head() is None
    assert not buffer.put(chunks[1])
    assert (buffer.duplicates, buffer.overflow, buffer.late) == (1, 1, 3)


def test_timeline_conceals_a_gap_then_goes_silent() -> None:
    chunks = _chunks(sine(1000, 0.6), 1_000_000.0)
    buffer = JitterBuffer()
    timeline = StreamTimeline(buffer, OpusDecoder())
    buffer.put(chunks[0])
    buffer.put(chunks[2])
    timeline.start(chunk_span(chunks[0])[0])
    pcm = np.frombuffer(timeline.read(9600 * 3), dtype="<i2").astype(float)
    tone, guessed, silent, after = pcm[2000:9000], pcm[9600:9600 + 200], pcm[11_000:19_000], pcm[20_000:]
    assert np.abs(tone).max() > 10_000
    assert np.abs(guessed).max() > 1_000, "libopus conceals the first lost packet"
    assert np.abs(silent).max() == 0
    assert np.abs(after).max() > 10_000
    assert timeline.chunks_played == 2 and timeline.starved == 0


def test_decoder_conceals_and_survives_corrupt_packets() -> None:
    decoder = OpusDecoder()
    packets = _chunks(sine(1000, 0.2), 0.0)[0].frames
    for packet in packets[:5]:
        assert len(decoder.decode(packet)) == PACKET_SAMPLES * 2
    concealed = np.frombuffer(decoder.conceal(), dtype="<i2")
    assert len(concealed) == PACKET_SAMPLES and np.abs(concealed).max() > 1_000
    assert decoder.decode(CORRUPT) == bytes(PACKET_SAMPLES * 2)
    assert decoder.decode(CORRUPT, nominal_samples=480) == bytes(960)
    assert decoder.corrupt == 2 and decoder.concealed == 1


def test_pcm_chunks_play_without_opus() -> None:
    buffer = JitterBuffer()
    timeline = StreamTimeline(buffer, OpusDecoder())
    pcm = sine(500, 0.1)
    assert buffer.put(AudioChunk(seq=0, pts_us=1_000_000, duration_us=100_000, frames=(pcm,),
                                 codec=Codec.PCM_S16LE))
    timeline.start(48_000)
    assert timeline.read(4800) == pcm
