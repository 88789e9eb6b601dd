"""Agents ride out a controller restart and a broker restart, and resynchronise; what they reported
while no controller listened arrives when it is back."""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import redis as redis_client

from loalang_stack import broker
from loalang_stack.process import Server
from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.testkit import (
    ADMIN_PASSWORD,
    Fleet,
    Stack,
    new_commune,
    ping,
    receipts,
    schedule,
    tone_onset,
    wait_for,
)

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
FLEET_SIZE = 200


def test_controller_restart_keeps_agents_up_and_resyncs(stack: Stack, fleet: Fleet,
                                                         controller: ControllerProcess) -> None:
    device_id, config = fleet.enrolled_agent()
    agent = fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 5.0, what="online")
    boot = fleet.device(device_id)["presence"]["boot"]
    controller.stop()
    # Lose the controller's live view too: only the agents' births can rebuild it.
    redis_client.Redis(port=stack.redis_port).delete(f"loa:presence:{device_id}", f"loa:reported:{device_id}")
    controller.start()
    fleet.login()
    device = wait_for(lambda: (d := fleet.device(device_id))["online"] and d, 10.0, what="presence rebuilt")
    assert agent.process.poll() is None, "the agent kept running"
    assert device["presence"]["boot"] == boot, "no agent restart was needed"
    version = fleet.http.patch(f"/api/v1/devices/{device_id}/settings", json={"volume": 61}).json()
    wait_for(lambda: fleet.device(device_id)["applied_version"] == version["desired_version"], 10.0,
             what="new desired state applied after the restart")
    assert ping(fleet, device_id)["ok"] is True


def _all_online(fleet: Fleet, prefix: str) -> list[dict]:
    devices = [d for d in fleet.http.get("/api/v1/devices", params={"q": prefix}).json()
               if d["id"].startswith(prefix)]
    return devices if len(devices) == FLEET_SIZE and all(d["online"] for d in devices) else []


def test_broker_restart_with_200_agents(stack: Stack, fleet: Fleet, controller: ControllerProcess,
                                        tmp_path: Path) -> None:
    prefix = f"burst{int(time.time()) % 10000}"
    # An area tree of its own: nothing other tests scheduled can make 200 agents play at once.
    for area_id, level, parent in (("vung-tai", "province", None), (f"{prefix}-x", "village", "vung-tai")):
        if fleet.http.get(f"/api/v1/areas/{area_id}").status_code == 404:
            body = {"id": area_id, "name": area_id, "level": level, "parent_id": parent}
            fleet.http.post("/api/v1/areas", json=body).raise_for_status()
    simulator = Server("simulator", [
        str(BIN / "receiver-agent"), "simulate", "--count", str(FLEET_SIZE), "--controller", controller.url,
        "--data-dir", str(tmp_path / "sim"), "--area", f"{prefix}-x", "--prefix", prefix,
        "--telemetry-interval", "2",
    ], tmp_path / "simulator.log", {**os.environ, "LOALANG_SIM_ADMIN_PASSWORD": ADMIN_PASSWORD})
    simulator.start()
    try:
        online = wait_for(lambda: _all_online(fleet, prefix), 180.0, interval=1.0, what="200 agents online")
        before = {d["id"]: d["presence"]["connection"] for d in online}  # as they were when all were online
        stack.restart_broker()
        restarted = time.time()
        # the reading that showed all of them back is the one measured: a second one could find a
        # board that a controller far behind on this loaded machine took for silent a moment
        devices = wait_for(lambda: (found := _all_online(fleet, prefix))
                           and all(d["presence"]["connection"] > before[d["id"]] for d in found) and found,
                           120.0, interval=1.0, what="every agent reconnected after the broker restart")
        since = sorted(datetime.fromisoformat(d["presence"]["connected_at"]).timestamp() - restarted
                       for d in devices)
        spread = since[-1] - since[0]
        busiest_second = max(sum(1 for s in since if int(s) == second) for second in {int(s) for s in since})
        print(f"reconnects spread over {spread:.1f} s; busiest second held {busiest_second} of {FLEET_SIZE}")
        assert spread >= 2.0, "reconnects must spread over the backoff window"
        assert busiest_second < FLEET_SIZE * 0.6
        assert simulator.process is not None and simulator.process.poll() is None
        for device in devices[:5]:
            assert ping(fleet, device["id"], timeout=15)["ok"] is True
        assert all(d["applied_version"] == d["desired_version"] for d in devices)
    finally:
        simulator.stop(timeout=15)


def agent_with_a_tone_ahead(fleet: Fleet, hz: float, in_ms: int) -> tuple[str, Path, Server, str]:
    """An agent online in a village of its own, knowing the time (it plays nothing scheduled
    before), with a 1 s tone on its schedule in_ms from now; returns (device, config, process,
    occurrence)."""
    _, (village,) = new_commune(fleet, villages=1)
    device_id, config = fleet.enrolled_agent(area=village)
    agent = fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 10.0, what="online")
    wait_for(lambda: (fleet.device(device_id)["telemetry"] or {}).get("time_known"), 15.0, what="time known")
    tone = schedule(fleet, area_id=village, level="normal", start_ms=int(time.time() * 1000) + in_ms,
                    duration_ms=1000, source={"type": "tone", "frequency_hz": hz})
    held = config_file.load(config).data_dir / "schedule.json"
    wait_for(lambda: held.exists() and tone in held.read_text(), 10.0, what="the tone on its schedule")
    return device_id, config, agent, tone


def completed_in_outbox(config: Path) -> bool:
    """Whether a completed receipt waits in the agent's outbox for the controller's acknowledgement."""
    return any(b'"completed"' in event.read_bytes() for event in (config.parent / "outbox").glob("*.json"))


def test_receipts_made_while_the_controller_was_down_arrive_without_a_reconnect(
        fleet: Fleet, controller: ControllerProcess) -> None:
    device_id, config, _, tone = agent_with_a_tone_ahead(fleet, 700, in_ms=4000)
    connection = fleet.device(device_id)["presence"]["connection"]
    controller.stop()  # the receipts of the play are published while no controller listens
    try:
        card = config_file.load(config).data_dir / "card"
        wait_for(lambda: tone_onset(card, 700), 15.0, what="the tone played")
        wait_for(lambda: completed_in_outbox(config), 10.0, what="the completed receipt, unacknowledged")
    finally:
        controller.start()  # the session's controller: the next tests need it whatever happened here
    fleet.login()
    completed = wait_for(lambda: [r for r in receipts(fleet, device_id, "completed")
                                  if r["data"].get("occurrence") == tone], 20.0,
                         what="the receipt sent again when the controller came back")
    assert len(completed) == 1
    assert fleet.device(device_id)["presence"]["connection"] == connection, "without reconnecting"


def test_receipts_sent_before_the_controller_was_back_on_a_restarted_broker_arrive_within_seconds(
        stack: Stack, fleet: Fleet, controller: ControllerProcess) -> None:
    """The broker is killed; the agent reconnects and sends its receipts before the controller is
    back on the broker (held here with SIGSTOP), so nobody hears them. When the controller is back
    it says so, and the agent sends them again at once, not a minute later."""
    device_id, config, agent, tone = agent_with_a_tone_ahead(fleet, 750, in_ms=5000)
    assert controller.server is not None
    controller.server.signal(signal.SIGSTOP)
    try:
        stack.broker.signal(signal.SIGKILL)  # killed: no will, and the retained state says online
        assert stack.broker.process is not None
        stack.broker.process.wait(10)
        card = config_file.load(config).data_dir / "card"
        wait_for(lambda: tone_onset(card, 750), 15.0, what="the tone played with no broker")
        wait_for(lambda: completed_in_outbox(config), 10.0, what="the completed receipt in the outbox")
        stack.broker, _ = broker.start(stack.broker_config)
        wait_for(lambda: "resent" in agent.log_file.read_text(), 20.0,
                 what="the agent back on the broker, its receipts sent to nobody")
    finally:
        controller.server.signal(signal.SIGCONT)
    back = time.monotonic()
    fleet.login()
    completed = wait_for(lambda: [r for r in receipts(fleet, device_id, "completed")
                                  if r["data"].get("occurrence") == tone], 30.0,
                         what="the receipt sent again when the controller was back")
    print(f"receipt in the air log {time.monotonic() - back:.1f} s after the controller was let go")
    assert len(completed) == 1
