"""Ducking measured from the card's recording: announcements over a background programme (issue 21).

Each round plays a programme (a steady sine) on the mixer's bed through the agent's own item player
and mixer, on the simulated sound card, and an announcement (another sine) on main over it; the
card's recording gives the announcement's onset against its start instant, the programme's level
before it, under it (after the fade), through the hold and after it came back. Then the cost of
mixing: the CPU time of mix_block for a second of audio, steady and fading.

    .venv/bin/python -m benchmarks.ducking --rounds 10 --ducking-db -15
"""

from __future__ import annotations

import argparse
import array
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.stack import machine
from receiver_agent.audio.mixer import FADE_MS, HOLD_MS, gain_of, mix_block
from receiver_agent.audio.sink import SAMPLE_RATE
from tests.testkit import band_level_db, tone_onset_in_mix, wall_clock_audio
from tests.unit.receiver_agent.test_mixer import PROGRAMME_HZ, VOICE_HZ, play_programme_and_announcement

VOICE_S = 1.0


def one_round(folder: Path, ducking_db: float) -> dict[str, float]:
    """One announcement over the programme, measured."""
    voice_at, _ = play_programme_and_announcement(folder, ducking_db, voice_s=VOICE_S, programme_s=3.7)
    heard = wall_clock_audio(folder)
    full = band_level_db(heard, PROGRAMME_HZ, voice_at - 0.7, 0.4)
    onset = tone_onset_in_mix(heard, VOICE_HZ, voice_at - 0.5) or float("nan")
    fade_s, ends = FADE_MS / 1000, voice_at + VOICE_S
    return {
        "onset_error_ms": (onset - voice_at) * 1000,
        "drop_db": band_level_db(heard, PROGRAMME_HZ, onset + fade_s, VOICE_S - fade_s - 0.05) - full,
        "hold_db": band_level_db(heard, PROGRAMME_HZ, ends + 0.1, HOLD_MS / 1000 - 0.2) - full,
        "back_db": band_level_db(heard, PROGRAMME_HZ, ends + HOLD_MS / 1000 + fade_s + 0.1, 0.5) - full,
    }


def mixing_cpu_ms(ducking_db: float) -> dict[str, float]:
    """CPU milliseconds to mix one second of audio, the bed steady at its ducked gain and fading."""
    voice = array.array("h", (random.randint(-8000, 8000) for _ in range(SAMPLE_RATE))).tobytes()
    bed = array.array("h", (random.randint(-8000, 8000) for _ in range(SAMPLE_RATE))).tobytes()
    low = gain_of(ducking_db)
    step = (1 - low) / (FADE_MS * SAMPLE_RATE // 1000)
    timings = {}
    for name, (start, target) in {"steady": (low, low), "fading": (1.0, low)}.items():
        began = time.process_time()
        for _ in range(5):
            mix_block(voice, bed, start, target, step)
        timings[name] = (time.process_time() - began) / 5 * 1000
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--ducking-db", type=float, default=-15.0)
    args = parser.parse_args()
    rounds: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as scratch:
        for n in range(args.rounds):
            rounds.append(one_round(Path(scratch) / f"card-{n}", args.ducking_db))
    summary: dict[str, Any] = {"machine": machine(), "rounds": args.rounds, "ducking_db": args.ducking_db}
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        summary[key] = {"mean": round(statistics.fmean(values), 2), "worst": round(max(values, key=abs), 2)}
    summary["mix_cpu_ms_per_audio_s"] = {k: round(v, 1) for k, v in mixing_cpu_ms(args.ducking_db).items()}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
