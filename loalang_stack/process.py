"""Starting and stopping a server process of the local stack."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the process that started us dies, even by SIGKILL.

    A test run or demo that is killed then leaves no broker, Redis or controller behind.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: children are still stopped by stop()


class Server:
    """A child process in its own process group, with its output in a log file."""

    def __init__(self, name: str, argv: list[str], log_file: Path, env: dict[str, str] | None = None):
        self.name = name
        self.argv = argv
        self.log_file = log_file
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process, appending its output to the log file."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, env=self.env, preexec_fn=_die_with_parent,
            )
        log.info("%s started (pid %s)", self.name, self.process.pid)

    def signal(self, signum: int) -> None:
        """Send a signal to the process group."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signum)

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate, then kill if it does not stop within timeout."""
        if self.process is None or self.process.poll() is not None:
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait(timeout)
        log.info("%s stopped", self.name)

    def tail(self, lines: int = 30, leaving_out: str | None = None) -> str:
        """The last lines of the log, for error messages; lines holding leaving_out are skipped (a
        health check's access lines would hide what went wrong)."""
        try:
            kept = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        if leaving_out is not None:
            kept = [line for line in kept if leaving_out not in line]
        return "\n".join(kept[-lines:])
