"""The board's service unit and install script say what the fail-safe needs."""

from __future__ import annotations

import configparser
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

DEPLOY = Path(__file__).resolve().parents[3] / "receiver_agent" / "deploy"


def test_unit_restarts_the_agent_and_switches_the_amplifier_off_after_it() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(DEPLOY / "loalang-agent.service")
    service = unit["Service"]
    assert service["Restart"] == "always"
    assert "amplifier-off" in service["ExecStopPost"] and "amplifier-off" in service["ExecStartPre"]
    assert service["User"] == "loalang" and service["NoNewPrivileges"] == "yes"


def test_install_script_is_valid_bash() -> None:
    script = DEPLOY / "install-receiver.sh"
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
