"""The simulated sound card plays at its own fixed rate, records what it played and when, and
reports its delay like ALSA."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from receiver_agent.audio.simulated import (
    PERIOD_S,
    SimulatedSoundCard,
    Stretch,
    played_stretches,
    read_recording,
)
from receiver_agent.audio.sink import SAMPLE_RATE
from receiver_agent.audio.tone import sine
from receiver_agent.cli import main

pytestmark = pytest.mark.unit


def _dominant_hz(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(float)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE)[int(np.argmax(spectrum))])


def test_tone_is_recorded_at_its_frequency_and_in_real_time(tmp_path: Path) -> None:
    card = SimulatedSoundCard(tmp_path)
    tone = sine(1000, 0.4)
    written_at = time.time()
    assert card.write(tone) == len(tone)
    assert card.delay_frames() > 0.3 * SAMPLE_RATE
    time.sleep(0.7)
    card.close()
    pcm, times = read_recording(tmp_path)
    assert abs(_dominant_hz(pcm[: len(tone)]) - 1000) < 5
    assert len(times) >= 40
    assert times[0][1] - written_at < 0.05, "playback starts at once"
    spacing = np.diff([t for _, t in times[:40]])
    assert abs(float(np.median(spacing)) - PERIOD_S) < 0.002
    assert abs((times[39][1] - times[0][1]) - 39 * PERIOD_S) < 0.03, "no drift over 400 ms"


def test_delay_shrinks_as_the_card_plays(tmp_path: Path) -> None:
    card = SimulatedSoundCard(tmp_path)
    card.write(sine(440, 0.3))
    first = card.delay_frames()
    time.sleep(0.15)
    later = card.delay_frames()
    card.close()
    assert first - later > 0.1 * SAMPLE_RATE


def test_buffer_is_bounded_and_underrun_is_recorded(tmp_path: Path) -> None:
    card = SimulatedSoundCard(tmp_path)
    too_much = sine(440, 2.0)
    accepted = card.write(too_much)
    assert 0 < accepted < len(too_much), "a real card's buffer is finite"
    time.sleep(0.8)
    card.close()
    assert card.underruns == 1
    assert "underrun" in (tmp_path / "card.events").read_text()


def test_volume_scales_the_samples(tmp_path: Path) -> None:
    card = SimulatedSoundCard(tmp_path)
    card.set_volume(25)
    card.write(sine(500, 0.2, amplitude=0.8))
    time.sleep(0.4)
    card.close()
    pcm, _ = read_recording(tmp_path)
    peak = np.abs(np.frombuffer(pcm, dtype="<i2")).max()
    assert 0.15 * 32767 < peak < 0.25 * 32767


def test_idle_card_writes_nothing(tmp_path: Path) -> None:
    card = SimulatedSoundCard(tmp_path)
    time.sleep(0.1)
    card.close()
    assert read_recording(tmp_path) == (b"", [])


def test_two_plays_with_a_pause_between_are_listed_with_their_times_and_places(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card = SimulatedSoundCard(tmp_path)
    card.write(sine(440, 0.3))
    time.sleep(1.2)  # the card goes idle: the next play is a new stretch
    second_at = time.time()
    card.write(sine(880, 0.2))
    time.sleep(0.6)
    card.close()
    first, second = played_stretches(read_recording(tmp_path)[1])
    assert first.wav_offset_s == 0 and abs(first.length_s - 0.3) < 0.03
    assert abs(second.started - second_at) < 0.05 and abs(second.length_s - 0.2) < 0.03
    assert abs(second.wav_offset_s - first.length_s) < 0.03, "the second play follows the first in card.wav"

    assert main(["card", str(tmp_path), "--timezone", "Asia/Ho_Chi_Minh"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all("+07:00" in line for line in lines)
    assert "in card.wav" in lines[1]


def test_listing_a_folder_without_a_recording_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["card", str(tmp_path)]) == 2
    assert "no simulated card recording" in capsys.readouterr().err


def test_playback_starts_when_written_even_while_the_writer_keeps_python_busy(tmp_path: Path) -> None:
    """A card starts playing when its first period is written; the simulated card's clock must not
    wait until its thread gets Python's lock from a writer that goes on working (the agent decoding
    the next 100 ms of a tone did, and every start was stamped 5 to 10 ms late). Whether the thread
    gets the lock first is a race: a few cards in a row."""
    tone = sine(1000, 0.15)
    interval = sys.getswitchinterval()
    for trial in range(4):
        card = SimulatedSoundCard(tmp_path / str(trial))
        sys.setswitchinterval(0.05)  # pure Python keeps the lock this long before another thread runs
        try:
            written_at = time.time()
            card.write(tone)
            busy_until = time.monotonic() + 0.03
            while time.monotonic() < busy_until:
                pass
        finally:
            sys.setswitchinterval(interval)
        time.sleep(0.35)
        card.close()
        _, times = read_recording(tmp_path / str(trial))
        # the fault put starts 5 to 10 ms late; 4 ms leaves room for a loaded machine (3.6 ms seen once)
        assert times[10][1] - written_at == pytest.approx(10 * PERIOD_S, abs=0.004), \
            f"card {trial}: once Python is free, its periods are where the moment of the write put them"


def test_the_recording_outlives_the_agent_that_made_it(tmp_path: Path) -> None:
    """An agent started again (an update, a crash) adds to what the card recorded, as a recorder at the
    horn would; a period cut by a kill is dropped."""
    first = SimulatedSoundCard(tmp_path)
    first.write(sine(500, 0.3))
    time.sleep(0.5)
    first.close()
    with (tmp_path / "card.wav").open("ab") as wav:
        wav.write(b"\x01\x02\x03")  # the start of a period the kill cut
    time.sleep(0.6)  # the restart
    second = SimulatedSoundCard(tmp_path)
    second.write(sine(900, 0.3))
    time.sleep(0.5)
    second.close()
    pcm, times = read_recording(tmp_path)
    assert [index for index, _ in times] == list(range(len(times))), "one line per period, in order"
    stretches = played_stretches(times)
    assert len(stretches) == 2

    def heard(stretch: Stretch) -> float:
        start = int(stretch.wav_offset_s * SAMPLE_RATE) * 2
        return _dominant_hz(pcm[start:start + int(0.25 * SAMPLE_RATE) * 2])

    assert abs(heard(stretches[0]) - 500) < 10 and abs(heard(stretches[1]) - 900) < 10
