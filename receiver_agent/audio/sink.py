"""What the player needs from a sound card, real or simulated."""

from __future__ import annotations

from typing import Protocol

SAMPLE_RATE = 48_000
CHANNELS = 1
SAMPLE_BYTES = 2  # signed 16-bit little-endian
PERIOD_FRAMES = 480  # 10 ms


class AudioSink(Protocol):
    """A PCM output (48 kHz mono s16le) that reports its delay the way ALSA does."""

    name: str
    software_gain: float  # what the decoder multiplies by: 1.0 when the card's mixer sets the volume

    def write(self, pcm: bytes) -> int:
        """Queue PCM; returns the bytes accepted (fewer when the buffer is full)."""

    def delay_frames(self) -> int:
        """Frames queued ahead of the one now leaving the speaker (ALSA's snd_pcm_delay)."""

    def flush(self) -> None:
        """Drop everything queued (ALSA's snd_pcm_drop), so a cut-in is heard at once."""

    def set_volume(self, percent: int) -> None:
        """Set the output level through the card's mixer."""

    def check(self) -> str:
        """Raise OSError with a readable reason when the sink cannot be used; else describe it."""

    def close(self) -> None:
        """Stop output and release the device."""
