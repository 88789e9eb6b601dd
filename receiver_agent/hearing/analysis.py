"""Was the programme heard? The microphone's recording compared with what the agent sent to the card.

Both recordings cover the same stretch of wall time: a short lead-in before the item's first
sound (the microphone then hears only the village: its noise floor) and the item. Each is cut
into 5 ms frames and reduced to its loudness envelope (the RMS of each frame). A loudspeaker, its
amplifier's gain and the air between horn and microphone scale that envelope and delay it; the
village's noise adds to it. So the heard envelope, moved back by the acoustic path's delay,
follows the sent one (Pearson's correlation near 1) whatever the level; silence (a dead
amplifier, a cut cable) or another sound (a hum alone, another cluster's programme) does not.

The delay is searched from 0 to 500 ms (sound crosses 170 m in that time, more than any pole's
horn-to-microphone distance, and a USB microphone's buffering adds tens of milliseconds). At that
delay, the floor is what the microphone heard in the programme's own pauses (the village, and an
amplifier's hum, which raises it above what the lead-in heard before the amplifier was on), and
the path's gain is the power heard over the sounding frames, less that floor, against the power
sent (a cut horn lowers it by 6 dB).

Pure Python over the array module: a board carries no numpy, and 10 s of both recordings is
about 0.1 s of a core, once per item.
"""

from __future__ import annotations

import array
import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..audio.sink import SAMPLE_RATE

FRAME_SAMPLES = 240  # 5 ms at 48 kHz: the delay's resolution
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE
MAX_DELAY_S = 0.5
SOUNDING_BELOW_PEAK_DB = 30.0  # a sent frame within 30 dB of the loudest is one the programme sounds in
MATCH_MIN = 0.5  # correlation of the envelopes above which the recording follows the programme
SNR_MIN_DB = -6.0  # and heard at a quarter of the floor's power at least (speech is still followed)
SILENT_BELOW_PEAK_DB = 50.0  # a sent frame this far below the loudest is a pause
MIN_PAUSE_FRAMES = 10  # fewer pause frames than this cannot tell the floor while it plays
EDGE_FRAMES = 2
OTHER_SOUND_DB = 6.0  # with no programme heard, a floor this much above the lead-in's is another sound
MIN_SOUNDING_S = 0.5  # less sound than this cannot be judged
FULL_SCALE = 32768.0


@dataclass(frozen=True)
class Heard:
    """The verdict on one play: heard yes, no or unknown, and what was measured."""

    verdict: str  # "yes", "no" or "unknown"
    reason: str  # "matched", "silent", "other_sound", "nothing_sent", "no_recording"
    level_db: float | None = None  # the path's gain: the programme's power heard against the power sent
    delay_ms: float | None = None  # the acoustic path's delay
    match: float | None = None  # the envelopes' correlation at that delay, -1 to 1
    noise_dbfs: float | None = None  # the noise floor heard before the programme, dB of full scale
    noise_rise_db: float | None = None  # how far the floor rose while it played (an amplifier's hum)

    def as_receipt(self) -> dict[str, object]:
        """What a receipt carries (numbers rounded to what they mean)."""
        fields: dict[str, object] = {"heard": self.verdict, "reason": self.reason}
        for name, value, digits in (("level_db", self.level_db, 1), ("delay_ms", self.delay_ms, 0),
                                    ("match", self.match, 2), ("noise_dbfs", self.noise_dbfs, 1),
                                    ("noise_rise_db", self.noise_rise_db, 1)):
            if value is not None:
                fields[name] = round(value, digits)
        return fields


def unknown(reason: str) -> Heard:
    return Heard("unknown", reason)


def judge(sent: bytes, heard: bytes, lead_in_s: float) -> Heard:
    """Compare two recordings of the same stretch of time (48 kHz mono s16le, starting together):
    what was sent to the card, silent for its first lead_in_s, and what the microphone heard."""
    sent_power, heard_power = frame_powers(sent), frame_powers(heard)
    lead_in = min(int(lead_in_s / FRAME_S), len(heard_power))
    if lead_in < 4 or len(heard_power) <= lead_in:
        return unknown("no_recording")
    sounding = sounding_frames(sent_power)
    if len(sounding) * FRAME_S < MIN_SOUNDING_S:
        return unknown("nothing_sent")
    noise = max(_mean(sorted(heard_power[:lead_in])[: max(1, lead_in * 3 // 4)]), 1.0)  # its quieter part
    lag, match = best_lag(_rms(sent_power), _rms(heard_power), sounding)
    floor = gaps_floor(sent_power, heard_power, sounding, lag) or noise
    loud = _inner(sounding, sounding)
    programme = _mean([heard_power[i + lag] for i in loud if i + lag < len(heard_power)]) - floor
    measured = {"match": match, "noise_dbfs": _db(noise / FULL_SCALE ** 2),
                "noise_rise_db": _db(floor / noise)}
    if programme <= floor * 10 ** (SNR_MIN_DB / 10):
        reason = "other_sound" if measured["noise_rise_db"] >= OTHER_SOUND_DB else "silent"
        return Heard("no", reason, **measured)
    gain = programme / _mean([sent_power[i] for i in loud])
    level = {"level_db": _db(gain), "delay_ms": lag * FRAME_S * 1000}
    if match < MATCH_MIN:
        return Heard("no", "other_sound", **level, **measured)
    return Heard("yes", "matched", **level, **measured)


def gaps_floor(sent: Sequence[float], heard: Sequence[float], sounding: list[int], lag: int) -> float | None:
    """What the microphone heard in the programme's own pauses (the village, and an amplifier's hum,
    which the lead-in, before the amplifier was on, did not have); None when it has too few pauses."""
    quiet = max(sent) * 10 ** (-SILENT_BELOW_PEAK_DB / 10)
    pauses = [i for i in range(sounding[0], sounding[-1]) if sent[i] < quiet]
    heard_in_pauses = [heard[i + lag] for i in _inner(pauses, pauses) if i + lag < len(heard)]
    return _mean(heard_in_pauses) if len(heard_in_pauses) >= MIN_PAUSE_FRAMES else None


def _inner(frames: list[int], among: list[int]) -> list[int]:
    """The frames whose neighbours (EDGE_FRAMES either side) are all among the given ones: a frame
    at an edge is half one thing and half the other, and the delay found is good to one frame."""
    members = set(among)
    return [i for i in frames if all(i + d in members for d in range(-EDGE_FRAMES, EDGE_FRAMES + 1))]


def frame_powers(pcm: bytes) -> list[float]:
    """Mean square of each whole 5 ms frame (a trailing part frame is left out)."""
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    powers = []
    for start in range(0, len(samples) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        frame = samples[start:start + FRAME_SAMPLES]
        powers.append(math.fsum(map(float.__mul__, map(float, frame), map(float, frame))) / FRAME_SAMPLES)
    return powers


def sounding_frames(powers: Sequence[float]) -> list[int]:
    """The frames within SOUNDING_BELOW_PEAK_DB of the loudest."""
    peak = max(powers, default=0.0)
    if peak <= 0:
        return []
    floor = peak * 10 ** (-SOUNDING_BELOW_PEAK_DB / 10)
    return [i for i, power in enumerate(powers) if power >= floor]


def best_lag(sent: Sequence[float], heard: Sequence[float], sounding: Sequence[int]) -> tuple[int, float]:
    """The delay in frames (0 to MAX_DELAY_S) at which heard follows sent best, and the correlation
    there; computed over the sent recording's sounding stretch and the lead-in's last second."""
    first, last = max(0, sounding[0] - int(1.0 / FRAME_S)), sounding[-1] + 1
    best = (0, -1.0)
    for lag in range(int(MAX_DELAY_S / FRAME_S) + 1):
        end = min(last, len(heard) - lag)
        if end - first < 8:
            break
        match = pearson(sent[first:end], heard[first + lag:end + lag])
        if match > best[1]:
            best = (lag, match)
    return best


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Pearson's correlation of two equally long sequences; 0 when either is flat."""
    n = len(xs)
    mean_x, mean_y = math.fsum(xs) / n, math.fsum(ys) / n
    dx = [x - mean_x for x in xs]
    dy = [y - mean_y for y in ys]
    spread = math.sqrt(math.fsum(d * d for d in dx) * math.fsum(d * d for d in dy))
    return math.fsum(map(float.__mul__, dx, dy)) / spread if spread > 0 else 0.0


def _rms(powers: Sequence[float]) -> list[float]:
    return [math.sqrt(power) for power in powers]


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else 0.0


def _db(ratio: float) -> float:
    return 10 * math.log10(ratio) if ratio > 0 else -200.0
