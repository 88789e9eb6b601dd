"""The simulated microphone hears what the simulated card sounded, through the acoustic path and the
faults of its folder's acoustic.json, read again when the file changes; the verdict on the play
follows each fault."""

from __future__ import annotations

import array
import json
import math
import time
from pathlib import Path

import pytest

from receiver_agent.audio.simulated import SimulatedSoundCard
from receiver_agent.audio.simulated_mic import PATH_FILE, SimulatedMicrophone
from receiver_agent.audio.sink import SAMPLE_BYTES, SAMPLE_RATE
from receiver_agent.hearing.analysis import judge

pytestmark = pytest.mark.unit

LEAD_IN_S = 0.5
PATTERN = [(0.3, 0.2), (0.6, 0.2), (0.2, 0.1), (0.4, 0.3)]  # (tone, pause) seconds


def bursts() -> bytes:
    amplitude, step = 32767 * 10 ** (-12 / 20) * math.sqrt(2), 2 * math.pi * 440 / SAMPLE_RATE
    samples: list[float] = []
    for on, off in PATTERN:
        samples += [amplitude * math.sin(step * n) for n in range(int(on * SAMPLE_RATE))]
        samples += [0.0] * int(off * SAMPLE_RATE)
    return array.array("h", (round(s) for s in samples)).tobytes()


def sent_timeline(card: SimulatedSoundCard, start: float, end: float) -> bytes:
    """What the card sounded from start to end, placed on the timeline (silence elsewhere)."""
    out = bytearray(round((end - start) * SAMPLE_RATE) * SAMPLE_BYTES)
    for wall, period in card.recent_output(start, end):
        at = round((wall - start) * SAMPLE_RATE) * SAMPLE_BYTES
        out[at:at + len(period)] = period[: max(0, len(out) - at)]
    return bytes(out)


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimulatedSoundCard, float, float]:
    """A card that played the bursts once (in real time): (card, when the first sounded, when it ended)."""
    card = SimulatedSoundCard(tmp_path_factory.mktemp("card"), name="thon-a")
    pcm = bursts()
    began = time.time()
    while pcm:
        accepted = card.write(pcm)
        pcm = pcm[accepted:]
        time.sleep(0.05)
    time.sleep(0.8)
    card.close()
    first = card.recent_output(began - 1, began + 10)[0][0]
    return card, first, first + sum(on + off for on, off in PATTERN)


def verdict_with(card: SimulatedSoundCard, first: float, end: float, **path: object) -> dict[str, object]:
    (card.folder / PATH_FILE).write_text(json.dumps(path))
    microphone = SimulatedMicrophone(card, seed=3)
    start = first - LEAD_IN_S
    heard = microphone.heard(start, end + 0.6)
    return judge(sent_timeline(card, start, end + 0.6), heard, LEAD_IN_S).as_receipt()


Played = tuple[SimulatedSoundCard, float, float]


def test_a_healthy_path_is_heard_with_its_delay_and_gain(played: Played) -> None:
    verdict = verdict_with(*played, delay_ms=150, gain_db=-18, noise_dbfs=-50)
    assert verdict["heard"] == "yes", verdict
    assert verdict["delay_ms"] == pytest.approx(150, abs=6)
    assert verdict["level_db"] == pytest.approx(-18, abs=0.7)


@pytest.mark.parametrize(("faults", "heard", "reason"), [
    (["amplifier_dead"], "no", "silent"),
    (["other_audio"], "no", "other_sound"),
    (["amplifier_dead", "hum"], "no", "silent"),  # a dead amplifier hums no more
])
def test_faults_that_keep_the_programme_from_the_village(played: Played, faults: list[str], heard: str,
                                                          reason: str) -> None:
    verdict = verdict_with(*played, faults=faults)
    assert (verdict["heard"], verdict["reason"]) == (heard, reason), verdict


def test_a_cut_horn_is_6_db_down_and_a_hum_raises_the_floor(played: Played) -> None:
    healthy = verdict_with(*played)
    cut = verdict_with(*played, faults=["horn_cut"])
    humming = verdict_with(*played, faults=["hum"])
    assert cut["heard"] == humming["heard"] == "yes", (cut, humming)
    assert float(healthy["level_db"]) - float(cut["level_db"]) == pytest.approx(6, abs=0.7)  # type: ignore[arg-type]
    assert float(humming["noise_rise_db"]) > 10 > 3 > abs(float(healthy["noise_rise_db"]))  # type: ignore[arg-type]


def test_the_path_is_read_again_when_its_file_changes_and_a_bad_one_is_not_used(tmp_path: Path) -> None:
    card = SimulatedSoundCard(tmp_path)
    microphone = SimulatedMicrophone(card)
    (tmp_path / PATH_FILE).write_text(json.dumps({"gain_db": -10}))
    assert microphone.path().gain_db == -10
    (tmp_path / PATH_FILE).write_text(json.dumps({"gain_db": -14, "faults": ["horn_cut"]}))
    assert microphone.path().faults == {"horn_cut"}
    (tmp_path / PATH_FILE).write_text(json.dumps({"faults": ["struck_by_lightning"]}))
    assert microphone.path().gain_db == -14  # kept
