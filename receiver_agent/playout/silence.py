"""A decoder that yields silence of the item's length without running ffmpeg (simulations).

Paired with the null sound card: the timing code runs as on a board, but a simulated province
spends no CPU on decoding. It reads in long chunks, so a playing agent wakes about once a second.
"""

from __future__ import annotations

from ..audio.sink import SAMPLE_BYTES, SAMPLE_RATE

CHUNK_BYTES = SAMPLE_RATE * SAMPLE_BYTES  # one second
_SECOND = bytes(CHUNK_BYTES)


class SilentDecoder:
    """Stands for a Decoder: start, read until b"", stop."""

    def __init__(self, duration_ms: int, name: str) -> None:
        self.name = name
        self._remaining = max(0, duration_ms) * SAMPLE_RATE // 1000 * SAMPLE_BYTES

    async def start(self) -> None:
        """Nothing to spawn."""

    async def read(self, size: int) -> bytes:
        """A second of silence (less at the end; b"" after it), whatever size is asked: the player
        writes any length it is given, and long chunks mean few wake-ups."""
        take = min(self._remaining, CHUNK_BYTES)
        self._remaining -= take
        return _SECOND[:take] if take < CHUNK_BYTES else _SECOND

    async def stop(self) -> None:
        """Nothing to stop."""
