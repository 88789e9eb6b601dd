"""How often the hearing check is wrong: healthy plays called unheard, and faults it misses (issue 21).

Plays of spoken bulletins (espeak-ng's Vietnamese voices, 48 kHz) are "heard" through an acoustic
path drawn at random (delay 5-300 ms, gain -30 to -10 dB) with a village's noise at a random
signal-to-noise ratio, and judged by the agent's own analysis (`receiver_agent.hearing.analysis
.judge`, as the agent calls it: a 0.5 s lead-in, the first 10 s). The noises: wind (pink noise),
traffic (low rumble with vehicles passing), voices (other sentences spoken at once). Each play is
judged four ways: healthy (must be heard), amplifier dead (must not), one horn of two cut (must be
heard about 6 dB lower than healthy) and another cluster's programme (another sentence, as loud:
must not).

    .venv/bin/python -m benchmarks.hearing --plays 100 --snr-db 10 35
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import time
from collections import Counter
from typing import Any

import numpy as np

from benchmarks.stack import machine
from receiver_agent.hearing.analysis import judge
from receiver_agent.hearing.check import JUDGED_S, LEAD_IN_S

RATE = 48_000
AFTER_S = 0.6
SENTENCES = [
    "Thông báo của Ủy ban nhân dân xã về lịch tiêm chủng cho trẻ em vào sáng thứ bảy tuần này.",
    "Bà con lưu ý, bão số ba đang tiến gần bờ biển, đề nghị gia cố nhà cửa và chằng chống cây cối.",
    "Chương trình phát thanh buổi sáng xin được bắt đầu. Kính chào bà con trong xã.",
    "Trạm y tế xã khám bệnh miễn phí cho người cao tuổi từ bảy giờ đến mười một giờ.",
    "Hội nông dân thông báo lịch thu hoạch lúa và phòng chống sâu bệnh trên đồng ruộng.",
    "Đề nghị các hộ gia đình không đốt rơm rạ gần đường dây điện và khu dân cư.",
]
VOICES = ["vi", "vi-vn-x-central", "vi-vn-x-south"]
CUT_DB = 6.0
CUT_TOLERANCE_DB = 1.5


def spoken(text: str, voice: str, speed: int) -> np.ndarray:
    """A sentence spoken by espeak-ng, 48 kHz floats in -1..1."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], capture_output=True,
                         check=True, timeout=60).stdout
    resample = ["ffmpeg", "-v", "error", "-i", "pipe:0", "-ar", str(RATE), "-ac", "1", "-f", "s16le", "-"]
    raw = subprocess.run(resample, input=wav, capture_output=True, check=True, timeout=60).stdout
    return np.frombuffer(raw, dtype="<i2").astype(float) / 32768


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    return np.fft.irfft(spectrum, n)


def traffic(n: int, rng: np.random.Generator) -> np.ndarray:
    rumble = np.cumsum(rng.standard_normal(n))
    rumble -= np.convolve(rumble, np.ones(4801) / 4801, mode="same")  # brown noise, its drift removed
    t = np.arange(n) / RATE
    passing = sum(np.exp(-((t - rng.uniform(0, n / RATE)) / rng.uniform(0.8, 2.5)) ** 2) for _ in range(3))
    return rumble * (0.2 + passing)


def voices(n: int, rng: np.random.Generator, speech: list[np.ndarray]) -> np.ndarray:
    out = np.zeros(n)
    for clip in rng.choice(len(speech), 3, replace=False):
        start = int(rng.integers(0, n // 2))
        piece = speech[clip][: n - start]
        out[start:start + len(piece)] += piece
    return out


def at_power(signal: np.ndarray, power: float) -> np.ndarray:
    return signal * np.sqrt(power / max(float(np.mean(signal**2)), 1e-20))


def pcm(signal: np.ndarray) -> bytes:
    return np.clip(np.round(signal * 32767), -32768, 32767).astype("<i2").tobytes()


def one_play(speech: list[np.ndarray], rng: np.random.Generator, snr_range: tuple[float, float]
             ) -> dict[str, Any]:
    """A play judged healthy, with the amplifier dead, one horn cut, another programme."""
    index = int(rng.integers(len(speech)))
    programme = 0.5 * speech[index][: int(JUDGED_S * RATE)] / np.max(np.abs(speech[index]))
    lead, after = int(LEAD_IN_S * RATE), int(AFTER_S * RATE)
    sent = np.concatenate([np.zeros(lead), programme, np.zeros(after)])
    delay, gain_db = int(rng.uniform(0.005, 0.3) * RATE), rng.uniform(-30, -10)
    snr_db, noise_kind = rng.uniform(*snr_range), str(rng.choice(["wind", "traffic", "voices"]))
    others = [clip for n, clip in enumerate(speech) if n != index]
    other = others[int(rng.integers(len(others)))]
    other = 0.5 * other[: len(programme)] / np.max(np.abs(other))

    def heard(sounding: np.ndarray, extra_db: float = 0.0) -> np.ndarray:
        path = np.zeros(len(sent))
        path[lead + delay:lead + delay + len(sounding)] = sounding[: len(sent) - lead - delay]
        return path * 10 ** ((gain_db + extra_db) / 20)

    loud = float(np.mean(heard(programme)[lead:lead + len(programme)] ** 2))
    made = {"wind": lambda: pink(len(sent), rng), "traffic": lambda: traffic(len(sent), rng),
            "voices": lambda: voices(len(sent), rng, others)}[noise_kind]()
    noise = at_power(made, loud / 10 ** (snr_db / 10))
    verdicts = {name: judge(pcm(sent), pcm(sound + noise), LEAD_IN_S) for name, sound in (
        ("healthy", heard(programme)), ("dead", np.zeros(len(sent))), ("cut", heard(programme, -CUT_DB)),
        ("other", heard(other)))}
    return {"noise": noise_kind, "snr_db": round(snr_db, 1), "delay_ms": round(delay / RATE * 1000),
            "gain_db": round(gain_db, 1), **{name: v.as_receipt() for name, v in verdicts.items()}}


def wrong(play: dict[str, Any]) -> list[str]:
    """What the check got wrong in one play."""
    errors = []
    if play["healthy"]["heard"] != "yes":
        errors.append("healthy called unheard")
    if play["dead"]["heard"] != "no":
        errors.append("dead amplifier missed")
    if play["other"]["heard"] != "no":
        errors.append("another programme missed")
    cut, healthy = play["cut"], play["healthy"]
    if cut["heard"] != "yes" or "level_db" not in healthy or \
            abs(healthy["level_db"] - cut["level_db"] - CUT_DB) > CUT_TOLERANCE_DB:
        errors.append("cut horn not measured 6 dB down")
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plays", type=int, default=100)
    parser.add_argument("--snr-db", type=float, nargs=2, default=(10.0, 35.0), metavar=("LOW", "HIGH"))
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    snr_range = (args.snr_db[0], args.snr_db[1])
    rng = np.random.default_rng(args.seed)
    speech = [spoken(text, voice, speed) for text in SENTENCES for voice, speed in
              zip(random.Random(args.seed).sample(VOICES, 2), (150, 175), strict=True)]
    began = time.process_time()
    plays = [one_play(speech, rng, snr_range) for _ in range(args.plays)]
    judged_s = (time.process_time() - began) / (4 * args.plays)
    errors = Counter(error for play in plays for error in wrong(play))
    worst = [play for play in plays if wrong(play)][:5]
    print(json.dumps({"machine": machine(), "plays": args.plays, "snr_db": list(snr_range),
                      "healthy_called_unheard": errors["healthy called unheard"],
                      "dead_amplifier_missed": errors["dead amplifier missed"],
                      "other_programme_missed": errors["another programme missed"],
                      "cut_horn_off_by_more_than_1_5_db": errors["cut horn not measured 6 dB down"],
                      "cpu_s_per_judgement": round(judged_s, 3), "first_wrong": worst}, ensure_ascii=False))


if __name__ == "__main__":
    main()
