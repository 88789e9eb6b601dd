"""On a NATS cluster a device's login expires: the agent asks for a new one ahead of time, while
nothing plays, and reconnects with it; when the old login expires nothing happens to it (no refusal,
no restart). The controller here gives 30 s logins; a province's last 90 days."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from receiver_agent import config as config_file
from receiver_agent.login_renewal import login_times
from tests.testkit import Fleet, nats_system, ping, wait_for

pytestmark = pytest.mark.e2e

LIFETIME_S = 30


def test_an_agent_renews_its_login_ahead_of_expiry_without_a_restart(tmp_path: Path) -> None:
    with nats_system(tmp_path, LOALANG_NATS_LOGIN_LIFETIME_S=str(LIFETIME_S)) as (_, controller):
        fleet = Fleet(controller, tmp_path / "fleet")
        try:
            fleet.ensure_areas()
            device_id, config = fleet.enrolled_agent(area="thon-b")
            first = config_file.load(config).broker.password
            times = login_times(first)
            assert times is not None and times[1] - times[0] == LIFETIME_S
            agent = fleet.start(config)
            wait_for(lambda: fleet.online(device_id), 20.0, what="online")
            boot = fleet.device(device_id)["presence"]["boot"]

            wait_for(lambda: config_file.load(config).broker.password != first, LIFETIME_S, interval=0.5,
                     what="a new login asked for ahead of time")
            assert time.time() < times[1], "renewed before the first login expired"
            time.sleep(max(0.0, times[1] + 3 - time.time()))  # past the first login's expiry

            device = fleet.device(device_id)
            assert device["online"] and device["presence"]["boot"] == boot, "no restart"
            assert ping(fleet, device_id)["ok"]
            log = agent.log_file.read_text()
            assert "renewed ahead of its expiry" in log
            assert "refused" not in log, "the broker never refused the agent"
        finally:
            fleet.close()
