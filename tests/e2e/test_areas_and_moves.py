"""Area messages fan out through the broker; moving a device moves its permissions and subscriptions."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from loalang_stack.process import Server
from loalang_stack.services import ControllerProcess
from tests.testkit import (
    ADMIN_PASSWORD,
    Fleet,
    Stack,
    broker_credentials,
    mqtt_sub,
    ping,
    security_events,
    wait_for,
)

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


def area_ping(fleet: Fleet, area_id: str) -> str:
    response = fleet.http.post(f"/api/v1/areas/{area_id}/commands", json={"name": "ping"})
    response.raise_for_status()
    command_id: str = response.json()["command_id"]
    return command_id


def area_replies(fleet: Fleet, area_id: str, command_id: str) -> dict[str, Any]:
    replies: dict[str, Any] = fleet.http.get(f"/api/v1/areas/{area_id}/commands/{command_id}").json()
    return replies


def test_area_command_reaches_every_device_below_it(fleet: Fleet) -> None:
    devices = []
    for area in ("thon-a", "thon-b", "thon-c"):
        device_id, config = fleet.enrolled_agent(area=area)
        fleet.start(config)
        devices.append(device_id)
    for device_id in devices:
        wait_for(lambda d=device_id: fleet.online(d), 5.0, what="online")
    command_id = area_ping(fleet, "xa-mot")  # the commune of thon-a and thon-b
    replies = wait_for(lambda: len(r := area_replies(fleet, "xa-mot", command_id)) >= 2 and r, 5.0,
                       what="replies from the commune")
    assert set(replies) >= {devices[0], devices[1]}
    assert devices[2] not in area_replies(fleet, "tinh-thu", command_id), "thon-c is in another commune"


def test_moved_device_follows_its_new_area(broker_stack: Stack, broker_fleet: Fleet) -> None:
    """On NATS a login carries the area grants: the move revokes it, the broker refuses the agent,
    and the agent asks the controller for a new login (receiver_agent/broker_login.py)."""
    fleet = broker_fleet
    device_id, config = fleet.enrolled_agent(area="thon-a")
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 5.0, what="online")
    fleet.http.post(f"/api/v1/devices/{device_id}/move", json={"area_id": "thon-c"}).raise_for_status()
    assert fleet.device(device_id)["area_id"] == "thon-c"
    version = fleet.device(device_id)["desired_version"]
    wait_for(lambda: fleet.device(device_id)["applied_version"] == version, 10.0, what="move applied")
    command_id = area_ping(fleet, "xa-hai")
    # (on NATS each QoS 1 message goes through a replicated JetStream stream: seconds on a busy machine)
    wait_for(lambda: device_id in area_replies(fleet, "xa-hai", command_id), 15.0,
             what="reply via the new commune")
    old = area_ping(fleet, "xa-mot")
    assert ping(fleet, device_id)["ok"] is True  # the device has handled everything sent before
    assert device_id not in area_replies(fleet, "xa-mot", old)
    assert security_events(fleet, device_id) == []
    fleet.agents[-1].stop()
    creds = broker_credentials(config)  # on NATS, the login the agent was given after the move
    assert "denied" in mqtt_sub(broker_stack, creds, "loa/v1/area/thon-a/cmd").stderr
    assert "denied" not in mqtt_sub(broker_stack, creds, "loa/v1/area/thon-c/cmd").stderr


def test_agent_restart_repeats_retained_state_without_security_events(fleet: Fleet) -> None:
    device_id, config = fleet.enrolled_agent()
    agent = fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 5.0, what="online")
    agent.stop()
    fleet.start(config)
    wait_for(lambda: fleet.device(device_id)["presence"]["boot"] == 2 and fleet.online(device_id), 5.0,
             what="back with boot 2")
    wait_for(lambda: (fleet.device(device_id)["telemetry"] or {}).get("uptime_s") is not None, 5.0,
             what="telemetry after restart")
    assert security_events(fleet, device_id) == [], "the retained desired state again is a repeat"


def test_simulator_creates_a_missing_area(fleet: Fleet, controller: ControllerProcess,
                                          tmp_path: Path) -> None:
    simulator = Server("sim", [str(BIN / "receiver-agent"), "simulate", "--count", "1", "--controller",
                               controller.url, "--data-dir", str(tmp_path), "--area", "vung-moi",
                               "--prefix", "lone", "--telemetry-interval", "1"],
                       tmp_path / "sim.log", {**os.environ, "LOALANG_SIM_ADMIN_PASSWORD": ADMIN_PASSWORD})
    simulator.start()
    try:
        wait_for(lambda: fleet.http.get("/api/v1/devices/lone-1").status_code == 200
                 and fleet.online("lone-1"), 20.0, what="simulated receiver online")
        assert fleet.http.get("/api/v1/areas/vung-moi").json()["level"] == "village"
    finally:
        simulator.stop()
