"""The attention signal every device keeps on disk: a two-tone chime played before an emergency."""

from __future__ import annotations

import array
import functools
import math
from pathlib import Path

from loalang_protocol.files import write_atomic

from ..audio.simulated import wav_file
from ..audio.sink import SAMPLE_RATE

CHIME = ((880.0, 0.35), (660.0, 0.35), (880.0, 0.35), (660.0, 0.6))


@functools.cache
def chime_pcm() -> bytes:
    """The chime as 48 kHz mono s16le, each note with a soft decay."""
    samples = array.array("h")
    for frequency, seconds in CHIME:
        count = int(seconds * SAMPLE_RATE)
        for i in range(count):
            envelope = min(1.0, i / 240) * math.exp(-3.0 * i / count)
            samples.append(int(0.6 * 32767 * envelope * math.sin(2 * math.pi * frequency * i / SAMPLE_RATE)))
    return samples.tobytes()


def ensure(folder: Path) -> Path:
    """Write attention.wav into folder unless it is there."""
    path = folder / "attention.wav"
    if not path.exists():
        write_atomic(path, wav_file(chime_pcm()), mode=0o644)
    return path
