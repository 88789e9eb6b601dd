"""Generated test tones, played without ffmpeg."""

from __future__ import annotations

import array
import math

from .sink import SAMPLE_RATE


def sine(frequency_hz: float, seconds: float, amplitude: float = 0.5) -> bytes:
    """A sine tone as 48 kHz mono s16le PCM, with 5 ms fades so it does not click."""
    count = int(seconds * SAMPLE_RATE)
    fade = int(0.005 * SAMPLE_RATE)
    peak = amplitude * 32767
    samples = array.array("h", bytes(2 * count))
    for i in range(count):
        envelope = min(1.0, i / fade, (count - 1 - i) / fade) if fade else 1.0
        samples[i] = int(peak * envelope * math.sin(2 * math.pi * frequency_hz * i / SAMPLE_RATE))
    return samples.tobytes()
