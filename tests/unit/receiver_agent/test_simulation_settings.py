"""The intervals a simulated fleet runs with: the configuration's, unless the simulator is told others."""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver_agent import config as config_file
from receiver_agent.simulate import Simulation, _configured
from tests.unit.receiver_agent.test_cli_input import sample_config

pytestmark = pytest.mark.unit


def test_the_simulator_shortens_the_telemetry_and_clock_intervals_it_is_given(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    config_file.save(sample_config(tmp_path), path)

    kept = _configured(path, 0, Simulation())
    soak = _configured(path, 0, Simulation(telemetry_interval_s=5.0, clock_interval_s=4.0))

    assert (kept.telemetry_interval_s, kept.clock_interval_s) == (12.5, 600.0)
    assert (soak.telemetry_interval_s, soak.clock_interval_s) == (5.0, 4.0)
