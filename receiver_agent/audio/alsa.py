"""A real sound card through ALSA: aplay reads PCM from a pipe, amixer sets the volume."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .sink import SAMPLE_RATE


class AlsaSink:
    """ALSA output; the full player (delay from the card) arrives with the playout engine."""

    def __init__(self, device: str, mixer: str) -> None:
        self.name = f"alsa:{device}"
        self.device = device
        self.mixer = mixer

    def write(self, pcm: bytes) -> int:
        """Not used before the playout engine drives the card."""
        raise NotImplementedError("ALSA playback is driven by the playout engine")

    def delay_frames(self) -> int:
        """Nothing is queued outside the playout engine."""
        return 0

    def flush(self) -> None:
        """Nothing is queued outside the playout engine."""

    def set_volume(self, percent: int) -> None:
        """Set the mixer control to percent."""
        amixer = shutil.which("amixer")
        if amixer is None:
            raise OSError("amixer is not installed (package alsa-utils)")
        subprocess.run([amixer, "-q", "-D", self.device, "sset", self.mixer, f"{percent}%"],
                       check=True, capture_output=True, timeout=5)

    def check(self) -> str:
        """The card exists and aplay can open it."""
        cards = Path("/proc/asound/cards")
        if not cards.exists() or "no soundcards" in cards.read_text():
            raise OSError("no ALSA sound card found (/proc/asound/cards)")
        aplay = shutil.which("aplay")
        if aplay is None:
            raise OSError("aplay is not installed (package alsa-utils)")
        result = subprocess.run(
            [aplay, "-q", "-D", self.device, "-f", "S16_LE", "-r", str(SAMPLE_RATE), "-c", "1", "-d", "1",
             "/dev/zero"], capture_output=True, timeout=10,
        )
        if result.returncode != 0:
            raise OSError(f"aplay cannot open {self.device}: {result.stderr.decode(errors='replace')[:200]}")
        return f"ALSA device {self.device}"

    def close(self) -> None:
        """Nothing to release."""
