"""The simulated microphone: what a microphone on the pole would hear of the simulated card.

The card keeps its last 30 s of output, each 10 ms period with the wall time it sounded. The
microphone hears that through an acoustic path (a delay, a gain, the village's noise) and the
faults a test gives it, read from ``acoustic.json`` in the card's folder whenever that file
changes, so that a running agent's horn can fail in the middle of a test:

    {"delay_ms": 120, "gain_db": -20, "noise_dbfs": -55,
     "faults": ["amplifier_dead" | "horn_cut" | "hum" | "other_audio", ...]}

- ``amplifier_dead``: nothing of the programme reaches the horns;
- ``horn_cut``: one horn of two is silent, the programme is heard 6 dB lower;
- ``hum``: the amplifier hums (50 Hz and its third harmonic) while it plays;
- ``other_audio``: the horns sound another programme (another cluster's) instead of this one.

The noise is generated at ``noise_dbfs`` (Gaussian, a little low-passed as outdoor noise is), or
a recording of a village (a WAV, 48 kHz mono s16le) named by ``noise_file``, looped at its own level.
"""

from __future__ import annotations

import array
import json
import logging
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from .simulated import PERIOD_S, SimulatedSoundCard
from .sink import SAMPLE_RATE

log = logging.getLogger(__name__)

PATH_FILE = "acoustic.json"
FAULTS = frozenset({"amplifier_dead", "horn_cut", "hum", "other_audio"})
HORN_CUT_DB = -6.0
HUM_DBFS = -38.0  # a worn amplifier's hum: below the programme, far above a quiet village
NOISE_LOOP_S = 2.3  # generated noise repeats after this (not a multiple of any frame length)
FULL_SCALE = 32767.0


@dataclass(frozen=True)
class AcousticPath:
    """Between the horns and the microphone."""

    delay_ms: float = 120.0
    gain_db: float = -20.0
    noise_dbfs: float = -55.0
    noise_file: str | None = None
    faults: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_json(cls, text: str) -> AcousticPath:
        """Read the path; a fault not known is refused (ValueError)."""
        data = json.loads(text)
        faults = frozenset(data.get("faults", []))
        if not faults <= FAULTS:
            raise ValueError(f"unknown faults: {sorted(faults - FAULTS)}")
        return cls(delay_ms=float(data.get("delay_ms", 120.0)), gain_db=float(data.get("gain_db", -20.0)),
                   noise_dbfs=float(data.get("noise_dbfs", -55.0)), noise_file=data.get("noise_file"),
                   faults=faults)


class SimulatedMicrophone:
    """Hears the simulated card through the acoustic path in its folder's acoustic.json."""

    def __init__(self, card: SimulatedSoundCard, seed: int | None = None) -> None:
        self.card = card
        self.name = f"simulated microphone at {card.name}"
        self._rng = random.Random(seed)
        self._path = AcousticPath()
        self._path_stamp: tuple[int, int] | None = None
        self._noise: list[float] = []
        self._noise_for: tuple[float, str | None] | None = None

    def path(self) -> AcousticPath:
        """The acoustic path, read again when its file changed (kept as it was when the file is bad)."""
        file = self.card.folder / PATH_FILE
        try:
            stat = file.stat()
        except FileNotFoundError:
            return self._path
        if (stat.st_mtime_ns, stat.st_size) != self._path_stamp:
            self._path_stamp = (stat.st_mtime_ns, stat.st_size)
            try:
                self._path = AcousticPath.from_json(file.read_text())
            except (OSError, ValueError, TypeError) as exc:
                log.warning("simulated microphone: %s not used: %s", file, exc)
        return self._path

    def heard(self, start_wall: float, end_wall: float) -> bytes:
        path = self.path()
        signal = self._noise_floor(path, max(0, round((end_wall - start_wall) * SAMPLE_RATE)))
        delay = path.delay_ms / 1000
        for wall, period in self.card.recent_output(start_wall - delay - PERIOD_S, end_wall - delay):
            at = round((wall + delay - start_wall) * SAMPLE_RATE)
            _add(signal, at, _from_the_horns(period, wall, path))
        return array.array("h", (max(-32768, min(32767, round(value))) for value in signal)).tobytes()

    def close(self) -> None:
        return None

    def _noise_floor(self, path: AcousticPath, total: int) -> list[float]:
        if self._noise_for != (path.noise_dbfs, path.noise_file):
            self._noise = _noise_loop(path, self._rng)
            self._noise_for = (path.noise_dbfs, path.noise_file)
        loop = self._noise
        start = self._rng.randrange(len(loop))
        return [loop[(start + n) % len(loop)] for n in range(total)]


def _from_the_horns(period: bytes, wall: float, path: AcousticPath) -> list[float]:
    """One period of the card's output as it reaches the microphone (before the noise)."""
    count = len(period) // 2
    if "amplifier_dead" in path.faults:
        return [0.0] * count
    gain = 10 ** ((path.gain_db + (HORN_CUT_DB if "horn_cut" in path.faults else 0.0)) / 20)
    first = round(wall * SAMPLE_RATE)  # the hum and the other programme follow the wall clock
    sounded = _other_programme(first, count) if "other_audio" in path.faults else _samples(period)
    heard = [gain * value for value in sounded]
    if "hum" in path.faults:
        heard = [value + _hum(first + n) for n, value in enumerate(heard)]
    return heard


def _add(signal: list[float], at: int, samples: list[float]) -> None:
    for offset, value in enumerate(samples):
        if 0 <= at + offset < len(signal):
            signal[at + offset] += value


def _samples(period: bytes) -> array.array[int]:
    samples = array.array("h")
    samples.frombytes(period[: len(period) - len(period) % 2])
    return samples


def _hum(index: int) -> float:
    amplitude = FULL_SCALE * 10 ** (HUM_DBFS / 20) * math.sqrt(2)
    step = 2 * math.pi * 50 / SAMPLE_RATE
    return amplitude * (math.sin(step * index) + 0.5 * math.sin(3 * step * index))


def _other_programme(first: int, count: int) -> list[float]:
    """Another cluster's programme: 660 Hz bursts of 150 ms, 150 ms apart, whose rhythm no item of the
    tests shares, as loud as a bulletin."""
    amplitude = FULL_SCALE * 10 ** (-12 / 20) * math.sqrt(2)
    step = 2 * math.pi * 660 / SAMPLE_RATE
    burst = int(0.15 * SAMPLE_RATE)
    return [amplitude * math.sin(step * n) if (n // burst) % 2 == 0 else 0.0
            for n in range(first, first + count)]


def _noise_loop(path: AcousticPath, rng: random.Random) -> list[float]:
    """NOISE_LOOP_S of the village's noise at path.noise_dbfs: the recording named, or generated."""
    if path.noise_file:
        samples = _samples(Path(path.noise_file).read_bytes()[44:])
        return [float(value) for value in samples] or [0.0]
    level = FULL_SCALE * 10 ** (path.noise_dbfs / 20)
    noise, previous = [], 0.0
    for _ in range(int(NOISE_LOOP_S * SAMPLE_RATE)):
        previous = 0.7 * previous + rng.gauss(0.0, level * math.sqrt(1 - 0.7 ** 2))  # unit power, low-passed
        noise.append(previous)
    return noise
