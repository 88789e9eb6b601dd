"""A sound card that keeps time and sounds nothing, for simulating a province on one machine.

It holds no samples: it counts the frames queued and lets them drain on the wall clock, so its
delay is what a real card's would be, and the player times a start on it exactly as on ALSA: the
agent's `started` receipts say when each item would have sounded. Its agent does not run ffmpeg
either (playout/silence.py): thousands of boards fit beside the controller.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .sink import SAMPLE_BYTES, SAMPLE_RATE

BUFFER_S = 5.0  # more than the player ever queues (its lead and one read), so a write never waits


class NullSoundCard:
    """Counts frames in and lets them drain at the sample rate; records nothing."""

    software_gain = 1.0

    def __init__(self, name: str = "null", clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.clock = clock
        self.volume = 100
        self._drained_at = 0.0  # wall time at which everything queued will have played

    def write(self, pcm: bytes) -> int:
        """Accept what fits in the buffer."""
        now = self.clock()
        queued_s = max(0.0, self._drained_at - now)
        room = int((BUFFER_S - queued_s) * SAMPLE_RATE) * SAMPLE_BYTES
        accepted = max(0, min(room, len(pcm)))
        accepted -= accepted % SAMPLE_BYTES
        if accepted:
            self._drained_at = now + queued_s + accepted / SAMPLE_BYTES / SAMPLE_RATE
        return accepted

    def delay_frames(self) -> int:
        """Frames still to play, as the wall clock drains them."""
        return max(0, round((self._drained_at - self.clock()) * SAMPLE_RATE))

    def flush(self) -> None:
        """Drop what is queued."""
        self._drained_at = 0.0

    def set_volume(self, percent: int) -> None:
        """Kept for the status page; nothing is scaled."""
        self.volume = max(0, min(100, int(percent)))

    def check(self) -> str:
        """Always usable."""
        return "null sound card (simulation: keeps time, sounds nothing)"

    def close(self) -> None:
        """Nothing to release."""
