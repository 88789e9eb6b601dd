"""Start the agent of the current release, and take the board back to the previous release by itself
when a new one does not prove healthy in time.

A board keeps each release in its own folder and a `current` link to the one that runs::

    /opt/loalang/launch.py            this file, run by systemd with the system's python3
    /opt/loalang/releases/<version>/  a release: its own virtual environment in venv/
    /opt/loalang/current              a link to releases/<version>, switched atomically
    /opt/loalang/update.json          the update in progress (this module's format)

While no update is on trial the launcher becomes the agent (exec), so the agent is the service's
main process. After the agent installed a new release (updates/installer.py) the state is `trial`:
the launcher runs the new agent as a child and gives it `gate_s` to write `confirmed` (the agent does
so once it is connected, holds its desired state and passed its self-checks). A child that exits
before is started again by systemd (Restart=always) and counted; after MAX_STARTS starts, or when the
gate passes without confirmation (the agent hangs, or never connects), the launcher switches
`current` back to the previous release, records `rolled_back` with the reason (the previous agent
reports it to the controller) and starts the previous agent. No network is needed for any of it.

This file uses the standard library only and does not import the agent: a broken release cannot
break the code that takes the board away from it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STATE_FILE = "update.json"
CURRENT = "current"
RELEASES = "releases"
MAX_STARTS = 3
STOP_WAIT_S = 15.0
POLL_S = 0.5


def read_state(root: Path) -> dict[str, Any]:
    """The update state, or {} when there is none (or it cannot be read: nothing is on trial)."""
    try:
        state = json.loads((root / STATE_FILE).read_bytes())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def write_state(root: Path, state: dict[str, Any]) -> None:
    """Replace the update state atomically and durably (a power cut leaves the old or the new one)."""
    _write_atomic(root / STATE_FILE, json.dumps(state, sort_keys=True).encode())


def current_version(root: Path) -> str | None:
    """The version the `current` link points to."""
    try:
        return os.readlink(root / CURRENT).rstrip("/").rsplit("/", 1)[-1]
    except OSError:
        return None


def switch_to(root: Path, version: str) -> None:
    """Point `current` at releases/<version> in one rename, durably."""
    temporary = root / f".{CURRENT}.{os.getpid()}"
    temporary.unlink(missing_ok=True)
    os.symlink(f"{RELEASES}/{version}", temporary)
    os.replace(temporary, root / CURRENT)
    _sync_folder(root)


def agent_program(root: Path, version: str | None = None) -> Path:
    """The agent's program in a release (the current one by default)."""
    base = root / CURRENT if version is None else root / RELEASES / version
    return base / "venv" / "bin" / "receiver-agent"


def roll_back(root: Path, state: dict[str, Any], reason: str) -> dict[str, Any]:
    """Return to the release that ran before the one on trial; record why."""
    previous = str(state["previous"])
    switch_to(root, previous)
    rolled = {"state": "rolled_back", "version": state.get("version"), "previous": previous,
              "reason": reason, "reported": False, "at": int(time.time())}
    write_state(root, rolled)
    print(f"loalang launcher: release {state.get('version')} rolled back to {previous}: {reason}",
          file=sys.stderr, flush=True)
    return rolled


def launch(root: Path, arguments: list[str]) -> int:
    """Run the agent: become it when nothing is on trial, else watch the release on trial."""
    state = read_state(root)
    if state.get("state") != "trial" or current_version(root) != state.get("version"):
        _become_agent(root, arguments)
    starts = int(state.get("starts", 0)) + 1
    write_state(root, {**state, "starts": starts})
    if starts > MAX_STARTS:
        roll_back(root, state, f"it stopped {MAX_STARTS} times before it was healthy")
        _become_agent(root, arguments)
    return _watch_trial(root, state, arguments)


def _watch_trial(root: Path, state: dict[str, Any], arguments: list[str]) -> int:
    gate_s = float(state.get("gate_s", 300))
    # in a process group of its own, so that a hung agent is stopped with what it started (ffmpeg)
    child = subprocess.Popen([str(agent_program(root)), *arguments], env=_child_environment(),
                             process_group=0)
    stopping: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        stopping.append(signum)
        _signal_group(child, signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    deadline = time.monotonic() + gate_s
    while True:
        try:
            code = child.wait(timeout=POLL_S)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None:
            return code if code != 0 or stopping else 1  # on trial, an agent that ends was not healthy
        if read_state(root).get("state") != "trial":
            return child.wait()  # confirmed: the new release stays; its agent runs on as our child
        if time.monotonic() > deadline and not stopping:
            _stop(child)
            roll_back(root, state, f"not healthy within {gate_s:.0f} s")
            _become_agent(root, arguments)


def _stop(child: subprocess.Popen[bytes]) -> None:
    _signal_group(child, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=STOP_WAIT_S)
    _signal_group(child, signal.SIGKILL)  # whatever it left running, or it if it did not stop
    child.wait()


def _signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signum)


def _child_environment() -> dict[str, str]:
    """The agent's environment: systemd's watchdog is addressed to the main process, which the agent
    is not while on trial; with NotifyAccess=all its pings still count."""
    return {k: v for k, v in os.environ.items() if k != "WATCHDOG_PID"}


def _become_agent(root: Path, arguments: list[str]) -> None:
    program = agent_program(root)
    os.execv(program, [str(program), *arguments])  # noqa: S606 (the agent's own program, no shell)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main(argv: list[str] | None = None) -> int:
    """`python3 launch.py [--root DIR] AGENT-ARGUMENTS...` (the root defaults to this file's folder)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    root = Path(__file__).resolve().parent
    if arguments[:1] == ["--root"]:
        root, arguments = Path(arguments[1]), arguments[2:]
    return launch(root, arguments)


if __name__ == "__main__":
    sys.exit(main())
