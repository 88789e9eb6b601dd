"""A sound card for machines without one: PulseAudio with a null sink, reached through ALSA.

The board's agent plays through libasound and sets its volume with `amixer`. Where the kernel has
no sound card (this test machine, a container) ALSA's own PulseAudio plugins (libasound2-plugins)
give both a real path: ALSA device `pulse` plays into the server, ALSA control `pulse` has the
server's `Master` volume. The server's only sink is a null sink at 48 kHz mono, the board's card;
what reaches it is recorded from its monitor in the layout of the simulated card (card.wav and
card.times: one line per 10 ms period with its wall time), so the tests' audio analysis reads it.

The server runs as the user who starts it (root included: `-n` loads no default script, so no
system service is needed), with its socket, state and cookie in its own folder.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType

from loalang_stack.process import Server

SINK = "board"
RATE = 48_000
PERIOD_FRAMES = 480  # 10 ms, as the simulated card's time log
PERIOD_BYTES = PERIOD_FRAMES * 2
ALSA_DEVICE = "pulse"  # libasound2-plugins' PCM and control for the server named by PULSE_SERVER
ALSA_MIXER = "Master"


def available() -> str | None:
    """None when a sound server can run here, else why not."""
    for program, package in (("pulseaudio", "pulseaudio"), ("parec", "pulseaudio-utils"),
                             ("pactl", "pulseaudio-utils"), ("amixer", "alsa-utils")):
        if shutil.which(program) is None:
            return f"{program} is missing (package {package})"
    if not any(Path(folder, "libasound_module_pcm_pulse.so").exists()
               for folder in ("/usr/lib/x86_64-linux-gnu/alsa-lib", "/usr/lib/aarch64-linux-gnu/alsa-lib")):
        return "ALSA's PulseAudio plugin is missing (package libasound2-plugins)"
    return None


class SoundServer:
    """PulseAudio in folder, with the null sink `board`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.runtime = folder / "run"
        self.socket = self.runtime / "native"
        self.server: Server | None = None

    @property
    def env(self) -> dict[str, str]:
        """What a client of this server (the agent, amixer, pactl) needs in its environment."""
        return {"PULSE_SERVER": f"unix:{self.socket}", "PULSE_RUNTIME_PATH": str(self.runtime),
                "PULSE_COOKIE": str(self.folder / "cookie"), "XDG_RUNTIME_DIR": str(self.runtime)}

    def start(self, timeout: float = 15.0) -> None:
        """Start the server and wait until it answers."""
        self.runtime.mkdir(parents=True, exist_ok=True)
        self.runtime.chmod(0o700)
        argv = ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=false",
                "--disallow-module-loading", "--log-target=stderr",
                "-L", f"module-null-sink sink_name={SINK} rate={RATE} channels=1",
                "-L", f"module-native-protocol-unix auth-anonymous=1 socket={self.socket}"]
        env = {**os.environ, **self.env, "HOME": str(self.folder)}
        self.server = Server("pulseaudio", argv, self.folder / "pulseaudio.log", env)
        self.server.start()
        deadline = time.monotonic() + timeout
        while self.pactl("info", check=False).returncode != 0:
            if time.monotonic() > deadline or not self._running():
                raise RuntimeError(f"pulseaudio did not start:\n{self.server.tail()}")
            time.sleep(0.1)

    def _running(self) -> bool:
        process = self.server.process if self.server is not None else None
        return process is not None and process.poll() is None

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run pactl against this server."""
        return subprocess.run(["pactl", *args], env={**os.environ, **self.env}, capture_output=True,
                              text=True, timeout=10, check=check)

    def volume_percent(self) -> int:
        """The board sink's volume, as the server reports it."""
        said = self.pactl("get-sink-volume", SINK).stdout  # "Volume: mono: 32768 /  50% / -18.06 dB"
        return int(said.split("/")[1].strip().rstrip("%"))

    def record(self, card: Path) -> Recorder:
        """Record what reaches the sink into card (card.wav and card.times) until the recorder stops."""
        return Recorder(self, card)

    def stop(self) -> None:
        """Stop the server."""
        if self.server is not None:
            self.server.stop()


def wav_header() -> bytes:
    """A 16-bit mono 48 kHz WAV header for a recording of unknown length (sizes left at their most)."""
    unknown = struct.pack("<I", 0xFFFFFFFF)
    return (b"RIFF" + unknown + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, RATE, RATE * 2, 2, 16) +
            b"data" + unknown)


class Recorder:
    """parec on the sink's monitor; each 10 ms period is written with the wall time it was heard.

    The monitor runs on the sink's clock without a gap, so period i was heard at start + i * 10 ms;
    start is estimated from the reads, as the earliest any period could have been heard given when
    it arrived (the rest of each read's lateness is the server's buffering, not the sound's)."""

    def __init__(self, sound: SoundServer, card: Path) -> None:
        card.mkdir(parents=True, exist_ok=True)
        self.card = card
        self._process = subprocess.Popen(
            ["parec", f"--device={SINK}.monitor", "--raw", "--format=s16le", f"--rate={RATE}",
             "--channels=1", "--latency-msec=10"], env={**os.environ, **sound.env},
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._start: float | None = None
        self._thread = threading.Thread(target=self._pump, name="sound-recorder", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self._process.stdout is not None
        with (self.card / "card.wav").open("wb") as wav, (self.card / "card.times").open("w") as log:
            wav.write(wav_header())
            periods = 0
            while len(period := self._process.stdout.read(PERIOD_BYTES)) == PERIOD_BYTES:
                heard_by = time.time() - (periods + 1) * PERIOD_FRAMES / RATE
                self._start = heard_by if self._start is None else min(self._start, heard_by)
                wav.write(period)
                wav.flush()  # the samples before their time line: a reader never finds a line alone
                log.write(f"{periods} {self._start + periods * PERIOD_FRAMES / RATE:.6f}\n")
                log.flush()
                periods += 1

    def stop(self) -> None:
        """Stop recording; the files stay."""
        self._process.terminate()
        self._process.wait(5)
        self._thread.join(5)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
