"""The verdict on a play from the microphone's recording: heard with the path's delay and level,
or not heard (silence, another sound), or unknown; over synthetic recordings with noise."""

from __future__ import annotations

import array
import math
import random

import pytest

from receiver_agent.audio.sink import SAMPLE_RATE
from receiver_agent.hearing.analysis import judge

pytestmark = pytest.mark.unit

LEAD_IN_S = 0.5
SENT_DBFS = -12.0
PATH_DB = -20.0  # a healthy horn heard from its pole
NOISE_DBFS = -55.0  # a quiet village


def tone_bursts(pattern: list[tuple[float, float]], frequency: float = 440.0) -> list[float]:
    """Silence for the lead-in, then (seconds on, seconds off) bursts of a tone at SENT_DBFS."""
    amplitude = 32767 * 10 ** (SENT_DBFS / 20) * math.sqrt(2)
    samples = [0.0] * int(LEAD_IN_S * SAMPLE_RATE)
    for on, off in pattern:
        samples += [amplitude * math.sin(2 * math.pi * frequency * n / SAMPLE_RATE)
                    for n in range(int(on * SAMPLE_RATE))]
        samples += [0.0] * int(off * SAMPLE_RATE)
    return samples


PROGRAMME = [(0.4, 0.2), (0.9, 0.3), (0.2, 0.1), (0.6, 0.4), (0.3, 0.2)]
OTHER = [(0.2, 0.5), (0.3, 0.1), (1.1, 0.2), (0.1, 0.3), (0.5, 0.1)]


def heard_through(sent: list[float], delay_s: float = 0.12, path_db: float = PATH_DB,
                  noise_dbfs: float = NOISE_DBFS, extra: list[float] | None = None, seed: int = 1) -> bytes:
    """What a microphone hears: sent delayed and scaled, village noise, and another sound if given."""
    rng = random.Random(seed)
    gain = 10 ** (path_db / 20)
    noise = 32767 * 10 ** (noise_dbfs / 20)
    shift = int(delay_s * SAMPLE_RATE)
    out = []
    for n in range(len(sent) + int(0.6 * SAMPLE_RATE)):
        value = gain * sent[n - shift] if 0 <= n - shift < len(sent) else 0.0
        value += rng.gauss(0.0, noise) + (extra[n] if extra and n < len(extra) else 0.0)
        out.append(value)
    return pcm(out)


def pcm(samples: list[float]) -> bytes:
    return array.array("h", (max(-32768, min(32767, round(s))) for s in samples)).tobytes()


def hum(seconds: float, dbfs: float = -30.0) -> list[float]:
    """A faulty amplifier's hum, from when the agent switches it on for the item (after the lead-in)."""
    amplitude = 32767 * 10 ** (dbfs / 20) * math.sqrt(2)
    step = 2 * math.pi * 50 / SAMPLE_RATE

    def at(n: int) -> float:
        return amplitude * (math.sin(step * n) + 0.5 * math.sin(3 * step * n))
    return [0.0] * int(LEAD_IN_S * SAMPLE_RATE) + [at(n) for n in range(int(seconds * SAMPLE_RATE))]


def test_a_healthy_horn_is_heard_with_its_delay_and_level() -> None:
    sent = tone_bursts(PROGRAMME)
    verdict = judge(pcm(sent), heard_through(sent), LEAD_IN_S)
    assert verdict.verdict == "yes", verdict
    assert verdict.delay_ms == pytest.approx(120, abs=5)
    assert verdict.level_db == pytest.approx(PATH_DB, abs=0.5)
    assert verdict.noise_dbfs == pytest.approx(NOISE_DBFS, abs=1.5)
    assert verdict.noise_rise_db is not None and abs(verdict.noise_rise_db) < 3


def test_one_horn_of_two_cut_is_heard_6_db_lower() -> None:
    sent = tone_bursts(PROGRAMME)
    healthy = judge(pcm(sent), heard_through(sent), LEAD_IN_S)
    one_horn = judge(pcm(sent), heard_through(sent, path_db=PATH_DB - 6), LEAD_IN_S)
    assert one_horn.verdict == "yes"
    assert one_horn.level_db is not None and healthy.level_db is not None
    assert healthy.level_db - one_horn.level_db == pytest.approx(6, abs=0.5)


def test_a_dead_amplifier_is_silence() -> None:
    sent = tone_bursts(PROGRAMME)
    verdict = judge(pcm(sent), heard_through(sent, path_db=-200), LEAD_IN_S)
    assert (verdict.verdict, verdict.reason) == ("no", "silent")


def test_a_hum_instead_of_the_programme_is_another_sound() -> None:
    sent = tone_bursts(PROGRAMME)
    verdict = judge(pcm(sent), heard_through(sent, path_db=-200, extra=hum(6.0)), LEAD_IN_S)
    assert (verdict.verdict, verdict.reason) == ("no", "other_sound"), verdict


def test_a_hum_over_the_programme_is_heard_and_the_floors_rise_measured() -> None:
    sent = tone_bursts(PROGRAMME)
    verdict = judge(pcm(sent), heard_through(sent, extra=hum(6.0)), LEAD_IN_S)
    assert verdict.verdict == "yes", verdict
    assert verdict.level_db == pytest.approx(PATH_DB, abs=1.0)
    assert verdict.noise_rise_db is not None and verdict.noise_rise_db > 15


def test_another_clusters_programme_is_another_sound() -> None:
    sent = tone_bursts(PROGRAMME)
    other = tone_bursts(OTHER, frequency=660.0)
    verdict = judge(pcm(sent), heard_through(other, delay_s=0.05), LEAD_IN_S)
    assert (verdict.verdict, verdict.reason) == ("no", "other_sound"), verdict


@pytest.mark.parametrize("noise_dbfs", [-50.0, -45.0])
def test_the_programme_is_heard_through_a_noisy_village(noise_dbfs: float) -> None:
    sent = tone_bursts(PROGRAMME)
    for seed in range(3):
        verdict = judge(pcm(sent), heard_through(sent, noise_dbfs=noise_dbfs, seed=seed), LEAD_IN_S)
        assert verdict.verdict == "yes", verdict


def test_nothing_sent_or_nothing_recorded_is_unknown() -> None:
    sent = tone_bursts(PROGRAMME)
    assert judge(pcm([0.0] * len(sent)), heard_through(sent), LEAD_IN_S).reason == "nothing_sent"
    assert judge(pcm(sent), b"", LEAD_IN_S).reason == "no_recording"
    assert judge(pcm(sent), b"", LEAD_IN_S).verdict == "unknown"
