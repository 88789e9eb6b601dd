"""Sources the agent plays without a decoder process: a generated tone and a 48 kHz mono WAV (the
attention signal). Library files have their own reader (ogg_opus.py)."""

from __future__ import annotations

import array
import asyncio
import math
import wave
from pathlib import Path

from ..audio.sink import SAMPLE_BYTES, SAMPLE_RATE
from .decoder import DecodeError
from .ogg_opus import NotPlayableHere
from .stream import scale

TONE_PEAK = 0.5  # of full scale, as the ffmpeg tone was
FADE_SAMPLES = 5 * SAMPLE_RATE // 1000  # no click at either end


class ToneGenerator:
    """A sine tone of duration_ms, from position_ms, generated as it is read."""

    def __init__(self, frequency_hz: float, duration_ms: int, position_ms: int, gain: float,
                 name: str) -> None:
        self.name = name
        self._step = 2 * math.pi * frequency_hz / SAMPLE_RATE
        self._peak = TONE_PEAK * 32767 * gain
        self._next = position_ms * SAMPLE_RATE // 1000
        self._end = duration_ms * SAMPLE_RATE // 1000

    async def start(self) -> None:
        """Nothing to spawn."""

    async def read(self, size: int) -> bytes:
        """Up to size bytes of the tone; b"" after its end. About a millisecond for 100 ms: the
        card's thread (the simulated card's clock, which stamps each period) waits for the lock
        Python's threads share no longer than that."""
        await asyncio.sleep(0)  # the event loop's poll lets the card's thread run
        first = self._next
        last = min(self._end, first + size // SAMPLE_BYTES)
        self._next = last
        sin, step, peak = math.sin, self._step, self._peak
        samples = [peak * sin(step * i) for i in range(first, last)]
        for i in range(first, min(last, FADE_SAMPLES)):
            samples[i - first] *= i / FADE_SAMPLES
        for i in range(max(first, self._end - FADE_SAMPLES), last):
            samples[i - first] *= (self._end - 1 - i) / FADE_SAMPLES
        return array.array("h", map(int, samples)).tobytes()

    async def stop(self) -> None:
        """Nothing to stop."""


class WavSource:
    """A 48 kHz mono 16-bit WAV file from position_ms, scaled by gain."""

    def __init__(self, path: Path, position_ms: int, gain: float, name: str) -> None:
        self.name = name
        self.gain = gain
        try:
            self._wav = wave.open(str(path), "rb")  # noqa: SIM115 - closed by stop()
        except (wave.Error, EOFError) as exc:
            raise NotPlayableHere(f"not a WAV file: {exc}") from None
        layout = (self._wav.getnchannels(), self._wav.getsampwidth(), self._wav.getframerate())
        if layout != (1, 2, SAMPLE_RATE):
            self._wav.close()
            raise NotPlayableHere("not 48 kHz mono 16-bit")
        self._wav.setpos(min(self._wav.getnframes(), position_ms * SAMPLE_RATE // 1000))

    async def start(self) -> None:
        """Nothing to spawn."""

    async def read(self, size: int) -> bytes:
        """Up to size bytes of the file's PCM; b"" at its end."""
        try:
            pcm = self._wav.readframes(size // SAMPLE_BYTES)
        except (OSError, wave.Error, EOFError) as exc:
            raise DecodeError(f"{self.name}: {exc!r}"[:300]) from None
        return pcm if self.gain == 1.0 else scale(pcm, self.gain)

    async def stop(self) -> None:
        """Close the file."""
        self._wav.close()
