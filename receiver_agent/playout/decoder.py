"""ffmpeg, supervised, decoding one source to 48 kHz mono s16le PCM.

ffmpeg-python builds the argument list; this module runs the process itself: its own process
group, stdin closed, stderr kept in a small ring buffer that is logged only when ffmpeg fails,
terminate then kill on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections import deque
from pathlib import Path
from typing import Protocol

import ffmpeg

from ..audio.sink import CHANNELS, SAMPLE_RATE

log = logging.getLogger(__name__)

STDERR_LINES = 40
STOP_GRACE_S = 2.0


class DecodeError(RuntimeError):
    """ffmpeg failed; the message carries the end of its stderr."""


def file_arguments(path: Path, position_ms: int, gain: float = 1.0) -> list[str]:
    """ffmpeg's arguments to decode a file from a position."""
    options = {"ss": f"{position_ms / 1000:.3f}"} if position_ms else {}
    stream = ffmpeg.input(str(path), **options)
    return _pcm_output(stream, gain)


def _pcm_output(stream: object, gain: float) -> list[str]:
    output = ffmpeg.output(stream, "pipe:", format="s16le", acodec="pcm_s16le", ac=CHANNELS, ar=SAMPLE_RATE,
                           af=f"volume={gain:.3f}")
    args: list[str] = output.global_args("-hide_banner", "-nostdin", "-loglevel", "error").compile()
    return args


class PcmSource(Protocol):
    """What the player reads PCM from: ffmpeg (Decoder) on a board, silence in a simulation."""

    name: str

    async def start(self) -> None: ...

    async def read(self, size: int) -> bytes: ...

    async def stop(self) -> None: ...


class Decoder:
    """One running ffmpeg whose stdout is PCM."""

    def __init__(self, arguments: list[str], name: str) -> None:
        self.arguments = arguments
        self.name = name
        self.stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self.process: asyncio.subprocess.Process | None = None
        self._stderr_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Spawn ffmpeg in its own process group."""
        self.process = await asyncio.create_subprocess_exec(
            *self.arguments, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )
        self._stderr_task = asyncio.create_task(self._collect_stderr())

    async def _collect_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        async for line in self.process.stderr:
            self.stderr.append(line.decode(errors="replace").rstrip())

    async def read(self, size: int) -> bytes:
        """Up to size bytes of PCM; b"" at the end. Raises DecodeError when ffmpeg failed."""
        assert self.process is not None and self.process.stdout is not None
        data = await self.process.stdout.read(size)
        if not data:
            code = await self.process.wait()
            if self._stderr_task is not None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self._stderr_task
            if code != 0:
                tail = " | ".join(self.stderr) or f"exit code {code}"
                log.error("decoder %s failed (exit %s): %s", self.name, code, tail)
                raise DecodeError(tail[-300:])
        return data

    async def stop(self) -> None:
        """Terminate the process group, then kill it if it lingers."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        # Read and discard what ffmpeg still writes: blocked on a full pipe it would never see
        # the signal, and asyncio would never see the pipe close.
        drain = asyncio.create_task(self._discard_output())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_GRACE_S):
                await process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        drain.cancel()
        if self._stderr_task is not None:
            self._stderr_task.cancel()

    async def _discard_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with contextlib.suppress(Exception):
            while await self.process.stdout.read(65536):
                pass
