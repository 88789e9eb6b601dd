"""Enrol a device, see it online, change its volume, and watch presence through kills and freezes."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.testkit import Fleet, wait_for

pytestmark = pytest.mark.e2e


def test_enrolled_device_is_online_within_3_seconds(fleet: Fleet) -> None:
    device_id, config = fleet.enrolled_agent()
    started = time.monotonic()
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 3.0, what="device online")
    listed = {d["id"]: d for d in fleet.http.get("/api/v1/devices").json()}
    assert listed[device_id]["online"] is True
    assert time.monotonic() - started < 3.0 + 1.0


def test_volume_change_is_applied_and_reported(fleet: Fleet) -> None:
    device_id, config = fleet.enrolled_agent()
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 5.0, what="device online")
    response = fleet.http.patch(f"/api/v1/devices/{device_id}/settings", json={"volume": 35})
    response.raise_for_status()
    version = response.json()["desired_version"]
    device = wait_for(lambda: (d := fleet.device(device_id))["applied_version"] == version and d, 5.0,
                      what="applied version")
    assert device["volume"] == 35, "the device's page shows the volume asked for"
    wait_for(lambda: json.loads((config.parent / "state.json").read_text()).get("volume") == 35, 5.0,
             what="the agent saved the volume it applied")  # saved just after it reports the version
    wait_for(lambda: (fleet.device(device_id)["telemetry"] or {}).get("volume") == 35, 5.0,
             what="telemetry shows the new volume")


def test_sigkill_marks_offline_at_once_and_restart_brings_new_boot(fleet: Fleet) -> None:
    device_id, config = fleet.enrolled_agent()
    agent = fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 5.0, what="device online")
    first_boot = fleet.device(device_id)["presence"]["boot"]
    killed = time.monotonic()
    agent.signal(signal.SIGKILL)
    wait_for(lambda: not fleet.online(device_id), 2.0, what="offline after SIGKILL (last will)")
    assert time.monotonic() - killed < 2.0
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 5.0, what="back online")
    assert fleet.device(device_id)["presence"]["boot"] == first_boot + 1


def test_frozen_agent_goes_offline_within_keepalive_window(fleet: Fleet) -> None:
    device_id, config = fleet.enrolled_agent()
    agent = fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 5.0, what="device online")
    keepalive = 5  # LOALANG_DEVICE_KEEPALIVE_S in the test stack
    frozen = time.monotonic()
    agent.signal(signal.SIGSTOP)
    try:
        wait_for(lambda: not fleet.online(device_id), 1.5 * keepalive + 2, interval=0.2,
                 what="offline after freeze")
        elapsed = time.monotonic() - frozen
        assert elapsed <= 1.5 * keepalive + 2
    finally:
        agent.signal(signal.SIGCONT)
    wait_for(lambda: fleet.online(device_id), 10.0, what="online again after thaw")
