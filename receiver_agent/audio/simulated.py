"""The simulated sound card used by tests and the demo.

It behaves like a real card: a consumer thread pulls fixed 10 ms periods from a buffer on
its own clock at a fixed rate, and the card reports its delay as ALSA does, so the agent's
timing code is the same for both. What it plays goes to a WAV file with the wall-clock time
of every period in a time log, and underruns during playback are recorded as gaps. When
nothing is queued the card is idle: the clock thread stops and nothing is written.

Files in the card's folder:
- ``card.wav``: every period that carried audio (or an underrun gap, as silence), kept across the
  agent's restarts (a new run goes on after what the last one wrote);
- ``card.times``: one line per written period: "<period index in the WAV> <wall time, s>";
- ``card.events``: one line per underrun: "<wall time, s> underrun".
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import logging
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from .sink import PERIOD_FRAMES, SAMPLE_BYTES, SAMPLE_RATE

log = logging.getLogger(__name__)

PERIOD_BYTES = PERIOD_FRAMES * SAMPLE_BYTES
PERIOD_S = PERIOD_FRAMES / SAMPLE_RATE
BUFFER_PERIODS = 50  # 500 ms of buffer, like a typical ALSA configuration
IDLE_PERIODS = 20  # the clock stops after 200 ms with nothing queued
RECENT_PERIODS = 3_000  # the last 30 s of output, for the simulated microphone
THREAD_NAME = b"loalang-card"  # what /proc shows for the clock thread (benchmarks leave its CPU out)
PR_SET_NAME = 15


def open_wav(path: Path) -> tuple[BinaryIO, int]:
    """Start a streaming WAV (sizes unknown, as a pipe would have them; finish_wav fixes them), or go
    on with the one an earlier run of the agent left, as a recorder at the horn would: returns the file
    and how many whole periods it holds already (a period cut by a kill is dropped)."""
    if path.exists() and path.stat().st_size >= 44:
        kept = path.open("r+b")
        periods = (path.stat().st_size - 44) // PERIOD_BYTES
        kept.truncate(44 + periods * PERIOD_BYTES)
        kept.seek(0, 2)
        return kept, periods
    new = path.open("wb")
    new.write(_wav_header(0xFFFFFFFF - 36))
    return new, 0


def finish_wav(out: BinaryIO) -> None:
    """Write the real sizes into the header and close."""
    size = out.tell() - 44
    out.seek(0)
    out.write(_wav_header(size))
    out.close()


def wav_file(pcm: bytes) -> bytes:
    """A whole WAV file of 48 kHz mono s16le samples."""
    return _wav_header(len(pcm)) + pcm


def _wav_header(data_size: int) -> bytes:
    byte_rate = SAMPLE_RATE * SAMPLE_BYTES
    return (b"RIFF" + struct.pack("<I", data_size + 36) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, SAMPLE_RATE, byte_rate, SAMPLE_BYTES, 16)
            + b"data" + struct.pack("<I", data_size))


def read_recording(folder: Path) -> tuple[bytes, list[tuple[int, float]]]:
    """The PCM a card recorded and its time log, readable even while the card is playing."""
    try:
        pcm = (folder / "card.wav").read_bytes()[44:]
        lines = (folder / "card.times").read_text().splitlines()
    except FileNotFoundError:
        return b"", []
    times = [(int(a), float(b)) for a, b in (line.split() for line in lines if line.count(" ") == 1)]
    return pcm[: len(times) * PERIOD_BYTES], times


SILENCE_BETWEEN_PLAYS_S = 0.5  # a longer pause in the time log starts a new play


@dataclass(frozen=True)
class Stretch:
    """One stretch of sound on the card: when it started, how long, and where it is in card.wav."""

    started: float  # wall time, s
    length_s: float
    wav_offset_s: float


def played_stretches(times: list[tuple[int, float]]) -> list[Stretch]:
    """The card's time log cut where the card paused, oldest first."""
    stretches: list[Stretch] = []
    first: tuple[int, float] | None = None
    previous: tuple[int, float] | None = None
    for period, wall in times:
        if first is not None and previous is not None and wall - previous[1] > SILENCE_BETWEEN_PLAYS_S:
            stretches.append(_stretch(first, previous))
            first = None
        first = first or (period, wall)
        previous = (period, wall)
    if first is not None and previous is not None:
        stretches.append(_stretch(first, previous))
    return stretches


def _stretch(first: tuple[int, float], last: tuple[int, float]) -> Stretch:
    return Stretch(started=first[1], length_s=(last[0] - first[0] + 1) * PERIOD_S,
                   wav_offset_s=first[0] * PERIOD_S)


class SimulatedSoundCard:
    """A sound card that records instead of sounding."""

    def __init__(self, folder: Path, name: str = "simulated") -> None:
        self.name = name
        self.folder = folder
        self.volume = 100
        self.software_gain = 1.0  # the simulated card has a mixer
        self._buffer = bytearray()
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._in_flight = 0
        self._wav: BinaryIO | None = None
        self._times: TextIO | None = None
        self._written_periods = 0
        self._started_at = 0.0
        self._recent: deque[tuple[float, bytes]] = deque(maxlen=RECENT_PERIODS)
        self._recent_lock = threading.Lock()
        self.underruns = 0

    # -- the player's side -----------------------------------------------------------------

    def write(self, pcm: bytes) -> int:
        """Queue PCM, as much as fits in the buffer."""
        with self._lock:
            room = BUFFER_PERIODS * PERIOD_BYTES - len(self._buffer)
            accepted = max(0, min(room, len(pcm)))
            accepted -= accepted % SAMPLE_BYTES
            self._buffer += pcm[:accepted]
            if accepted and (self._thread is None or not self._thread.is_alive()) and not self._closed:
                self._started_at = time.monotonic()
                self._thread = threading.Thread(target=self._clock, name=f"card-{self.name}", daemon=True)
                self._thread.start()
            return accepted

    def delay_frames(self) -> int:
        """Frames queued plus the period being played."""
        with self._lock:
            return len(self._buffer) // SAMPLE_BYTES + self._in_flight

    def flush(self) -> None:
        """Drop what is queued; the period being played finishes."""
        with self._lock:
            self._buffer.clear()

    def set_volume(self, percent: int) -> None:
        """The simulated mixer scales samples as a hardware mixer would."""
        self.volume = max(0, min(100, int(percent)))

    def recent_output(self, start_wall: float, end_wall: float) -> list[tuple[float, bytes]]:
        """The periods that sounded from start_wall to end_wall (within the last 30 s), each with the
        wall time it began, oldest first."""
        with self._recent_lock:
            return [(wall, period) for wall, period in self._recent if start_wall <= wall < end_wall]

    def check(self) -> str:
        """The card works when its folder is writable."""
        self.folder.mkdir(parents=True, exist_ok=True)
        probe = self.folder / ".probe"
        probe.write_bytes(b"")
        probe.unlink()
        return f"simulated sound card recording to {self.folder}"

    def close(self) -> None:
        """Stop the clock and close the files."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._wav is not None:
            finish_wav(self._wav)
            self._wav = None
        if self._times is not None:
            self._times.close()
            self._times = None

    # -- the card's side -------------------------------------------------------------------

    def _clock(self) -> None:
        _name_os_thread(THREAD_NAME)
        start = self._started_at
        period, idle, playing = 0, 0, False
        while not self._closed and idle < IDLE_PERIODS:
            due = start + period * PERIOD_S
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            chunk, underrun = self._pull()
            wall = time.time()
            if chunk is not None:
                idle, playing = 0, True
                self._record(chunk, wall)
            else:
                idle += 1
                if playing and idle == 1:
                    self._note_underrun(wall)
                    underrun = True
                if underrun and idle < 3:
                    self._record(bytes(PERIOD_BYTES), wall)  # a gap in playback is heard as silence
            period += 1
        with self._lock:
            self._in_flight = 0

    def _pull(self) -> tuple[bytes | None, bool]:
        with self._lock:
            if not self._buffer:
                self._in_flight = 0
                return None, False
            chunk = bytes(self._buffer[:PERIOD_BYTES])
            del self._buffer[:PERIOD_BYTES]
            self._in_flight = PERIOD_FRAMES
        short = len(chunk) < PERIOD_BYTES
        if short:
            chunk += bytes(PERIOD_BYTES - len(chunk))
        return chunk, short

    def _record(self, chunk: bytes, wall: float) -> None:
        if self._wav is None or self._times is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._wav, self._written_periods = open_wav(self.folder / "card.wav")
            self._times = (self.folder / "card.times").open("a")
        if self.volume != 100:
            gain = self.volume / 100
            chunk = array.array("h", (int(s * gain) for s in array.array("h", chunk))).tobytes()
        with self._recent_lock:
            self._recent.append((wall, chunk))
        self._wav.write(chunk)
        self._wav.flush()
        self._times.write(f"{self._written_periods} {wall:.6f}\n")
        self._times.flush()
        self._written_periods += 1

    def _note_underrun(self, wall: float) -> None:
        self.underruns += 1
        with (self.folder / "card.events").open("a") as events:
            events.write(f"{wall:.6f} underrun\n")


def _name_os_thread(name: bytes) -> None:
    """Name the calling thread for the operating system (seen in /proc/PID/task/TID/comm)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_NAME, ctypes.c_char_p(name[:15]), 0, 0, 0)
