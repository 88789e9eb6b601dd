"""A microphone at the horns through libasound (ctypes): captured in a thread into the last 30 s.

A cheap USB microphone on the pole (a capture device such as `plughw:1,0`) is read 10 ms at a
time. Each period is stamped with the wall time its first sample was picked up: the time of the
read less what the device still held (snd_pcm_delay on a capture device: frames captured and not
yet read) and the period's own length. The agent asks for a stretch of that when it judges a play
(hearing/check.py).
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections import deque

from .alsa import SND_PCM_STREAM_CAPTURE, libasound, open_pcm
from .sink import PERIOD_FRAMES, SAMPLE_BYTES, SAMPLE_RATE

log = logging.getLogger(__name__)

LATENCY_US = 100_000
KEPT_PERIODS = 3_000  # 30 s
PERIOD_S = PERIOD_FRAMES / SAMPLE_RATE
RETRY_S = 5.0  # a device that failed is opened again this long after
COVERED = 0.9  # a stretch less covered than this by captured periods has no recording


class AlsaMicrophone:
    """An ALSA capture device, 48 kHz mono s16le, kept as its last 30 s with wall times."""

    def __init__(self, device: str) -> None:
        self.name = f"alsa:{device}"
        self.device = device
        self._lib = libasound()
        self._pcm = ctypes.c_void_p()
        self._periods: deque[tuple[float, bytes]] = deque(maxlen=KEPT_PERIODS)
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Capture in a thread; a device that cannot be opened now is tried again every RETRY_S (what
        it did not capture is no recording, never silence)."""
        self._thread = threading.Thread(target=self._capture, name="microphone", daemon=True)
        self._thread.start()

    def check(self) -> str:
        """Open the device and release it (OSError with the reason when it cannot be opened)."""
        self._open()
        self._release()
        return f"ALSA capture device {self.device} records 48 kHz mono"

    def heard(self, start_wall: float, end_wall: float) -> bytes:
        out = bytearray(max(0, round((end_wall - start_wall) * SAMPLE_RATE)) * SAMPLE_BYTES)
        with self._lock:
            periods = [(wall, pcm) for wall, pcm in self._periods if start_wall - PERIOD_S < wall < end_wall]
        if sum(len(pcm) for _, pcm in periods) < COVERED * len(out):
            return b""  # the device was away for part of it: no recording, not silence
        for wall, pcm in periods:
            at = round((wall - start_wall) * SAMPLE_RATE) * SAMPLE_BYTES
            if at < 0:
                pcm, at = pcm[-at:], 0
            out[at:at + len(pcm)] = pcm[: max(0, len(out) - at)]
        return bytes(out)

    def close(self) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._release()

    def _open(self) -> None:
        self._pcm = open_pcm(self._lib, self.device, SND_PCM_STREAM_CAPTURE, 0, LATENCY_US)

    def _capture(self) -> None:
        buffer = ctypes.create_string_buffer(PERIOD_FRAMES * SAMPLE_BYTES)
        began, periods = time.monotonic(), 0
        while not self._closed.is_set():
            if not self._pcm.value and not self._reopen():
                continue
            read = self._lib.snd_pcm_readi(self._pcm, buffer, PERIOD_FRAMES)
            if read < 0:
                self._lib.snd_pcm_recover(self._pcm, int(read), 1)
                continue
            self._keep(buffer.raw[: int(read) * SAMPLE_BYTES])
            periods += 1
            ahead = began + periods * PERIOD_S - time.monotonic()
            if ahead > 0.2:  # a device that answers faster than it can capture (ALSA's null) is paced
                self._closed.wait(ahead)

    def _keep(self, pcm: bytes) -> None:
        delay = ctypes.c_long()
        held = delay.value if self._lib.snd_pcm_delay(self._pcm, ctypes.byref(delay)) == 0 else 0
        first_sample = time.time() - (max(0, held) + len(pcm) // SAMPLE_BYTES) / SAMPLE_RATE
        with self._lock:
            self._periods.append((first_sample, pcm))

    def _reopen(self) -> bool:
        try:
            self._open()
        except OSError as exc:
            log.warning("microphone: %s; trying again in %.0f s", exc, RETRY_S)
            self._closed.wait(RETRY_S)
            return False
        return True

    def _release(self) -> None:
        if self._pcm.value:
            self._lib.snd_pcm_close(self._pcm)
        self._pcm = ctypes.c_void_p()
