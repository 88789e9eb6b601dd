"""The board's service under the real systemd: the agent runs from a release folder through the
launcher, says it is ready, and a hung agent is restarted by the watchdog.

systemd runs as PID 1 of namespaces of its own (loalang_stack/systemd_box.py) with the board's unit
file from receiver_agent/deploy, its folders replaced by the test's and its watchdog shortened."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from loalang_protocol.keys import PURPOSE_RELEASE, KeyPair, issue_certificate
from loalang_stack import release_build
from loalang_stack.systemd_box import SystemdBox
from tests.testkit import Fleet, wait_for

pytestmark = pytest.mark.e2e

UNIT = "loalang-agent.service"
WATCHDOG_S = 5




def board_with_release(fleet: Fleet, tmp_path: Path, version: str) -> Path:
    """A board laid out as install-receiver.sh does, from a release signed with a release key."""
    keys = fleet.controller.data_dir / "keys"
    key = KeyPair.generate()
    cert = issue_certificate(KeyPair.load(keys / "root.key"), key.public_bytes, PURPOSE_RELEASE, 3600)
    release = tmp_path / f"agent-{version}.release"
    release_build.build_release(version, "", key, cert, release)
    root = tmp_path / "opt-loalang"
    root_public = KeyPair.load(keys / "root.key").private.public_key()
    assert release_build.install_board(root, release, root_public) == version
    return root


def test_the_watchdog_restarts_a_hung_agent(fleet: Fleet, box: SystemdBox, tmp_path: Path) -> None:
    root = board_with_release(fleet, tmp_path, "1.0.0")
    device_id, config = fleet.enrolled_agent()
    log_file = config.parent / "agent.log"
    results = config.parent / "service-results"  # a folder the unit may write to
    unit = release_build.board_unit(root, config, log_file, watchdog_s=WATCHDOG_S)
    # systemd tells the commands run after a stop why the service stopped ($SERVICE_RESULT)
    box.add_unit(UNIT, unit.replace("[Service]\n", "[Service]\nExecStopPost=/bin/sh -c 'echo "
                                    f"\"$SERVICE_RESULT $EXIT_CODE $EXIT_STATUS\" >> {results}'\n", 1))
    canary = tmp_path / "canary"
    canary.write_text("the machine's /tmp is left alone")
    box.start([UNIT])
    loaded = box.run("systemctl", "list-units", "--all", "--plain", "--no-legend").stdout
    assert "tmpfiles" not in loaded and "sysinit" not in loaded, loaded
    wait_for(lambda: fleet.online(device_id), 60.0, interval=0.5, what="the agent online under systemd")
    assert canary.exists()
    assert box.show(UNIT, "ActiveState") == "active", "Type=notify: the agent said it is ready"
    assert fleet.device(device_id)["presence"]["agent_version"] == "1.0.0"
    boot = fleet.device(device_id)["presence"]["boot"]
    agent = box.main_pid_on_host(UNIT)
    assert agent is not None
    command = Path(f"/proc/{agent}/cmdline").read_bytes().split(b"\0")
    assert command[1].endswith(b"/current/venv/bin/receiver-agent"), f"the agent runs: {command}"
    assert b"launch.py" not in b" ".join(command), "with nothing on trial the launcher became the agent"

    os.kill(agent, signal.SIGSTOP)  # hung: its event loop feeds the watchdog no more
    wait_for(lambda: int(box.show(UNIT, "NRestarts") or 0) >= 1, WATCHDOG_S + 20, interval=0.5,
             what="systemd restarting the hung agent")
    assert results.read_text().split()[:3] == ["watchdog", "killed", "ABRT"], results.read_text()
    wait_for(lambda: (d := fleet.device(device_id))["online"] and d["presence"]["boot"] > boot, 60.0,
             interval=0.5, what="the agent back online after its restart")
