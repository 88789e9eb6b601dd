"""What the agent needs from a microphone at the horns, real or simulated."""

from __future__ import annotations

from typing import Protocol


class Microphone(Protocol):
    """A capture (48 kHz mono s16le) that can give back what it heard over a recent stretch of time."""

    name: str

    def heard(self, start_wall: float, end_wall: float) -> bytes:
        """What it picked up from start_wall to end_wall (wall-clock seconds, within the last 30 s);
        empty when it did not capture that stretch (a device unplugged is not a silent village)."""

    def close(self) -> None:
        """Stop capturing and release the device."""
