"""Running ffprobe and ffmpeg under supervision: own process group, time limit, bounded stderr.

The argument lists come from ffmpeg-python; this module starts the process, feeds progress lines
to a callback, keeps the tail of stderr for the error message, and kills the whole group when the
time limit passes or the caller is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence

STDERR_LINES = 40


class ToolFailed(RuntimeError):
    """ffmpeg or ffprobe ended badly; the message carries the tail of its stderr."""


async def run(args: Sequence[str], timeout_s: float, on_line: Callable[[str], None] | None = None,
              stdin: bytes | None = None) -> tuple[bytes, str]:
    """Run a command; returns its stdout (unless on_line takes it line by line) and its stderr tail.

    stdin, when given, is written to the command's standard input. Raises ToolFailed on a
    non-zero exit or when timeout_s passes.
    """
    process = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
    tail: deque[str] = deque(maxlen=STDERR_LINES)
    try:
        async with asyncio.timeout(timeout_s):  # not wait_for: a cancelled gather's error would go unread
            stdout, _, _ = await asyncio.gather(
                _read_stdout(process, on_line), _read_stderr(process, tail), _write_stdin(process, stdin))
        code = await process.wait()
    except TimeoutError:
        raise ToolFailed(f"{os.path.basename(args[0])} took longer than {timeout_s:.0f} s") from None
    finally:
        await _kill_group(process)
    if code != 0:
        raise ToolFailed(" | ".join(tail)[-600:] or f"{os.path.basename(args[0])} exited with {code}")
    return stdout, "\n".join(tail)


async def stream(args: Sequence[str], block_bytes: int) -> AsyncIterator[bytes]:
    """Run a long command and yield its stdout as it comes (up to block_bytes at a time).

    Ends when the command's output ends; raises ToolFailed if it then exits with an error. Closing
    the iterator (or cancelling its reader) kills the command's whole process group.
    """
    process = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True)
    tail: deque[str] = deque(maxlen=STDERR_LINES)
    stderr_reader = asyncio.create_task(_read_stderr(process, tail))
    assert process.stdout is not None
    try:
        while block := await process.stdout.read(block_bytes):
            yield block
        code = await process.wait()
        await stderr_reader
        if code != 0:
            raise ToolFailed(" | ".join(tail)[-600:] or f"{os.path.basename(args[0])} exited with {code}")
    finally:
        stderr_reader.cancel()
        await _kill_group(process)


async def _read_stdout(process: asyncio.subprocess.Process, on_line: Callable[[str], None] | None) -> bytes:
    assert process.stdout is not None
    if on_line is None:
        return await process.stdout.read()
    async for raw in process.stdout:
        on_line(raw.decode(errors="replace").strip())
    return b""


async def _write_stdin(process: asyncio.subprocess.Process, data: bytes | None) -> None:
    if data is None or process.stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        process.stdin.write(data)
        await process.stdin.drain()
    process.stdin.close()


async def _read_stderr(process: asyncio.subprocess.Process, tail: deque[str]) -> None:
    assert process.stderr is not None
    async for raw in process.stderr:
        line = raw.decode(errors="replace").rstrip()
        if line:
            tail.append(line[:300])


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    """Kill what is left of the process group and reap the process."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
