"""A real sound card through libasound (ctypes): non-blocking writes, the card's own delay, drop.

The same three numbers drive timing for this sink and the simulated card: frames accepted,
frames queued ahead (snd_pcm_delay) and an immediate drop for cut-ins (snd_pcm_drop). Volume
goes through the ALSA mixer (amixer) when the card has the configured control; otherwise the
decoder applies it as gain.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import shutil
import subprocess

from .sink import CHANNELS, SAMPLE_BYTES, SAMPLE_RATE

log = logging.getLogger(__name__)

SND_PCM_STREAM_PLAYBACK = 0
SND_PCM_STREAM_CAPTURE = 1
SND_PCM_NONBLOCK = 1
SND_PCM_FORMAT_S16_LE = 2
SND_PCM_ACCESS_RW_INTERLEAVED = 3
LATENCY_US = 500_000
EAGAIN, EPIPE = 11, 32


def libasound() -> ctypes.CDLL:
    """libasound, its functions typed where ctypes would guess wrong."""
    name = ctypes.util.find_library("asound") or "libasound.so.2"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        raise OSError("libasound is not installed (package libasound2)") from None
    lib.snd_pcm_writei.restype = ctypes.c_long
    lib.snd_pcm_writei.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ulong]
    lib.snd_pcm_readi.restype = ctypes.c_long
    lib.snd_pcm_readi.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ulong]
    lib.snd_strerror.restype = ctypes.c_char_p
    return lib


def open_pcm(lib: ctypes.CDLL, device: str, stream: int, mode: int, latency_us: int) -> ctypes.c_void_p:
    """An ALSA device opened for 48 kHz mono s16le (stream: playback or capture); OSError with
    libasound's reason when it cannot be."""
    kind = "capture device" if stream == SND_PCM_STREAM_CAPTURE else "device"
    pcm = ctypes.c_void_p()
    code = lib.snd_pcm_open(ctypes.byref(pcm), device.encode(), stream, mode)
    if code < 0:
        raise OSError(f"cannot open ALSA {kind} {device}: {_strerror(lib, code)}")
    code = lib.snd_pcm_set_params(pcm, SND_PCM_FORMAT_S16_LE, SND_PCM_ACCESS_RW_INTERLEAVED, CHANNELS,
                                  SAMPLE_RATE, 1, latency_us)
    if code < 0:
        lib.snd_pcm_close(pcm)
        raise OSError(f"ALSA {kind} {device} refuses 48 kHz mono s16le: {_strerror(lib, code)}")
    return pcm


def _strerror(lib: ctypes.CDLL, code: int) -> str:
    return str(lib.snd_strerror(code).decode(errors="replace"))


class AlsaSink:
    """An ALSA playback device, 48 kHz mono s16le."""

    def __init__(self, device: str, mixer: str) -> None:
        self.name = f"alsa:{device}"
        self.device = device
        self.mixer = mixer
        self.software_gain = 1.0
        self._lib: ctypes.CDLL | None = None
        self._pcm = ctypes.c_void_p()

    def _open(self) -> None:
        if self._pcm.value:
            return
        self._lib = self._lib or libasound()
        self._pcm = open_pcm(self._lib, self.device, SND_PCM_STREAM_PLAYBACK, SND_PCM_NONBLOCK, LATENCY_US)

    def write(self, pcm: bytes) -> int:
        """Queue as many frames as the card takes now; an underrun is recovered from."""
        self._open()
        assert self._lib is not None
        frames = len(pcm) // SAMPLE_BYTES
        written = self._lib.snd_pcm_writei(self._pcm, pcm, frames)
        if written == -EAGAIN:
            return 0
        if written < 0:
            self._lib.snd_pcm_recover(self._pcm, int(written), 1)
            written = self._lib.snd_pcm_writei(self._pcm, pcm, frames)
            if written < 0:
                return 0
        return int(written) * SAMPLE_BYTES

    def delay_frames(self) -> int:
        """Frames between the next write and the speaker (0 when idle or after an underrun)."""
        if not self._pcm.value or self._lib is None:
            return 0
        delay = ctypes.c_long()
        if self._lib.snd_pcm_delay(self._pcm, ctypes.byref(delay)) < 0:
            return 0
        return max(0, delay.value)

    def flush(self) -> None:
        """Drop what is queued at once, ready for new audio."""
        if self._pcm.value and self._lib is not None:
            self._lib.snd_pcm_drop(self._pcm)
            self._lib.snd_pcm_prepare(self._pcm)

    def set_volume(self, percent: int) -> None:
        """Set the mixer control; without one, the decoder applies the volume as gain."""
        amixer = shutil.which("amixer")
        if amixer is not None:
            result = subprocess.run([amixer, "-q", "-D", self.device, "sset", self.mixer, f"{percent}%"],
                                    capture_output=True, timeout=5)
            if result.returncode == 0:
                self.software_gain = 1.0
                return
        self.software_gain = max(0, min(100, percent)) / 100
        log.info("%s: no mixer control %s; volume %s%% applied as gain", self.name, self.mixer, percent)

    def check(self) -> str:
        """Open the device and play 10 ms of silence."""
        self._open()
        self.write(bytes(480 * SAMPLE_BYTES))
        return f"ALSA device {self.device} plays 48 kHz mono"

    def close(self) -> None:
        """Release the device."""
        if self._pcm.value and self._lib is not None:
            self._lib.snd_pcm_close(self._pcm)
        self._pcm = ctypes.c_void_p()
