"""The board's launcher: it becomes the current agent, watches a release on trial, and returns to the
previous release by itself when the new one crashes, hangs or never proves healthy.

The agents here are small shell programs in a release layout; the launcher is the real module, run
as the board runs it (`python3 launch.py`), in its own process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from receiver_agent.updates import launcher

pytestmark = pytest.mark.unit

LAUNCHER = Path(launcher.__file__)
RAN = "ran.log"


def _release(root: Path, version: str, body: str) -> None:
    program = launcher.agent_program(root, version)
    program.parent.mkdir(parents=True)
    program.write_text(f"#!/bin/sh\necho \"{version} $*\" >> {root / RAN}\n{body}\n")
    program.chmod(0o755)


def _board(tmp_path: Path, new_agent: str, gate_s: float = 30.0) -> Path:
    """Release 1.0 runs and exits 0; release 2.0 (new_agent) is on trial."""
    root = tmp_path / "opt-loalang"
    _release(root, "1.0", "exit 0")
    _release(root, "2.0", new_agent)
    launcher.switch_to(root, "2.0")
    launcher.write_state(root, {"state": "trial", "version": "2.0", "previous": "1.0", "gate_s": gate_s,
                                "starts": 0})
    return root


def _launch(root: Path, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(LAUNCHER), "--root", str(root), "run", "--config", "x.toml"],
                          capture_output=True, text=True, timeout=timeout)


def _ran(root: Path) -> list[str]:
    return (root / RAN).read_text().splitlines() if (root / RAN).exists() else []


def test_with_nothing_on_trial_it_becomes_the_current_agent(tmp_path: Path) -> None:
    root = tmp_path / "opt-loalang"
    _release(root, "1.0", "exit 7")
    launcher.switch_to(root, "1.0")
    done = _launch(root)
    assert done.returncode == 7 and _ran(root) == ["1.0 run --config x.toml"]


def test_a_release_that_confirms_itself_is_kept(tmp_path: Path) -> None:
    confirm = ("python3 -c \"import json,sys; p=sys.argv[1]; s=json.load(open(p)); s['state']='confirmed'; "
               "json.dump(s, open(p, 'w'))\" \"$LOALANG_ROOT/update.json\"; sleep 1; exit 0")
    root = _board(tmp_path, f"LOALANG_ROOT={{root}}\n{confirm}")
    program = launcher.agent_program(root, "2.0")
    program.write_text(program.read_text().replace("{root}", str(root)))
    done = _launch(root)
    assert done.returncode == 0, done.stderr
    assert launcher.current_version(root) == "2.0"
    assert launcher.read_state(root)["state"] == "confirmed"
    assert _ran(root) == ["2.0 run --config x.toml"]


def test_a_release_that_keeps_crashing_is_left_for_the_previous_one(tmp_path: Path) -> None:
    root = _board(tmp_path, "exit 1")
    for start in range(1, launcher.MAX_STARTS + 1):  # systemd starts the service again each time
        assert _launch(root).returncode == 1
        assert launcher.read_state(root)["starts"] == start
    assert launcher.current_version(root) == "2.0"
    done = _launch(root)
    assert done.returncode == 0, "the previous release's agent ran"
    assert launcher.current_version(root) == "1.0"
    state = launcher.read_state(root)
    assert state["state"] == "rolled_back" and state["version"] == "2.0" and not state["reported"]
    assert "3 times" in state["reason"]
    assert _ran(root) == ["2.0 run --config x.toml"] * 3 + ["1.0 run --config x.toml"]


def test_a_release_that_never_proves_healthy_is_stopped_and_left_within_its_gate(tmp_path: Path) -> None:
    root = _board(tmp_path, "sleep 60", gate_s=2.0)  # hangs (connected to nothing, say)
    started = time.monotonic()
    done = _launch(root, timeout=60)
    assert done.returncode == 0
    assert time.monotonic() - started < 20, "stopped at the gate, with what it started"
    assert launcher.current_version(root) == "1.0"
    assert "not healthy within 2 s" in launcher.read_state(root)["reason"]
    assert _ran(root)[-1] == "1.0 run --config x.toml"


def test_an_exit_on_trial_counts_as_unhealthy_even_when_clean(tmp_path: Path) -> None:
    root = _board(tmp_path, "exit 0")
    assert _launch(root).returncode == 1


def test_stopping_the_service_stops_the_agent_on_trial(tmp_path: Path) -> None:
    root = _board(tmp_path, "trap 'echo stopped >> $0.log; exit 0' TERM\nsleep 30 & wait")
    process = subprocess.Popen([sys.executable, str(LAUNCHER), "--root", str(root), "run"])
    try:
        deadline = time.monotonic() + 10
        while not _ran(root) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        process.kill()
    assert launcher.current_version(root) == "2.0", "a stop is not a failure of the release"
    assert Path(f"{launcher.agent_program(root, '2.0')}.log").read_text().strip() == "stopped"


def test_a_damaged_state_file_means_nothing_is_on_trial(tmp_path: Path) -> None:
    root = _board(tmp_path, "exit 5")
    (root / launcher.STATE_FILE).write_text("{not json")
    assert _launch(root).returncode == 5


def test_the_watchdog_address_is_not_passed_to_an_agent_on_trial(tmp_path: Path) -> None:
    root = _board(tmp_path, "echo \"pid=${WATCHDOG_PID:-none} usec=$WATCHDOG_USEC\" >> $0.env\nexit 1")
    env = {**os.environ, "WATCHDOG_PID": "1", "WATCHDOG_USEC": "30000000"}
    subprocess.run([sys.executable, str(LAUNCHER), "--root", str(root), "run"], env=env, timeout=30)
    seen = Path(f"{launcher.agent_program(root, '2.0')}.env").read_text().strip()
    assert seen == "pid=none usec=30000000"


def test_the_state_file_is_json_a_person_can_read(tmp_path: Path) -> None:
    root = _board(tmp_path, "exit 1")
    assert json.loads((root / launcher.STATE_FILE).read_text())["version"] == "2.0"
