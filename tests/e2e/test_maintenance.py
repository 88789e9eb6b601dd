"""A technician's tools: signed maintenance commands, uploaded logs, and the offline status."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.testkit import Fleet, schedule, wait_for

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


def _command(fleet: Fleet, device_id: str, name: str, **args: Any) -> dict[str, Any]:
    response = fleet.http.post(f"/api/v1/devices/{device_id}/commands", json={"name": name, "args": args})
    response.raise_for_status()
    command_id = response.json()["command_id"]

    def reply() -> dict[str, Any] | None:
        answer = fleet.http.get(f"/api/v1/devices/{device_id}/commands/{command_id}")
        return answer.json() if answer.status_code == 200 else None

    result: dict[str, Any] = wait_for(reply, 10.0, what=f"reply to {name}")
    return result


def test_amplifier_logs_and_reboot_commands(fleet: Fleet) -> None:
    device_id, config = fleet.enrolled_agent(area="thon-b")
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 5.0, what="online")
    relay = config.parent / "amplifier"
    assert _command(fleet, device_id, "amplifier", on=True)["ok"]
    assert relay.read_text().strip() == "1"
    assert _command(fleet, device_id, "amplifier", on=False)["ok"]
    assert relay.read_text().strip() == "0"
    assert not _command(fleet, device_id, "amplifier", on="maybe")["ok"]
    uploaded = _command(fleet, device_id, "upload-logs")
    assert uploaded["ok"], uploaded
    names = fleet.http.get(f"/api/v1/devices/{device_id}/logs").json()
    log = fleet.http.get(f"/api/v1/devices/{device_id}/logs/{names[0]}").text
    assert f"device {device_id}: agent" in log
    assert _command(fleet, device_id, "reboot")["ok"]
    assert json.loads((config.parent / "reboot-request").read_text())["command"]


def test_only_the_device_itself_may_upload_its_log(fleet: Fleet) -> None:
    device_id, _ = fleet.register("thon-b")
    response = fleet.http.post(f"/api/v1/devices/{device_id}/logs", content=b"forged")
    assert response.status_code == 403


def test_status_works_without_the_network(fleet: Fleet) -> None:
    device_id, config = fleet.enrolled_agent(area="thon-b")
    agent = fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 5.0, what="online")
    start = int(time.time() * 1000) + 3_600_000
    occurrence = schedule(fleet, area_id="thon-b", level="priority", start_ms=start, duration_ms=1000,
                          title="Tin bão", source={"type": "tone", "frequency_hz": 440})
    wait_for(lambda: occurrence in (config.parent / "schedule.json").read_text(), 5.0, what="scheduled")
    agent.stop()
    result = subprocess.run([str(BIN / "receiver-agent"), "status", "--config", str(config), "--json"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["device_id"] == device_id and status["agent_running"] is False
    assert status["next"][0]["id"] == occurrence and status["next"][0]["title"] == "Tin bão"
    assert status["amplifier_on"] is False
    text = subprocess.run([str(BIN / "receiver-agent"), "status", "--config", str(config)],
                          capture_output=True, text=True, timeout=30).stdout
    assert "NOT RUNNING" in text and occurrence in text


def test_local_status_page(fleet: Fleet) -> None:
    import httpx

    from loalang_stack.ports import free_port
    from receiver_agent import config as config_file

    device_id, config = fleet.enrolled_agent(area="thon-b")
    port = free_port()
    settings = config_file.load(config)
    config_file.save(settings.model_copy(update={"status_page": f"127.0.0.1:{port}"}), config)
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 5.0, what="online")
    page = wait_for(lambda: _get(httpx, f"http://127.0.0.1:{port}/"), 5.0, what="status page")
    assert device_id in page.text and "connected" in page.text
    status = httpx.get(f"http://127.0.0.1:{port}/status.json").json()
    assert status["device_id"] == device_id and status["agent_running"] is True
    assert settings.broker.password not in page.text + json.dumps(status)
    assert httpx.get(f"http://127.0.0.1:{port}/agent.toml").status_code == 404
    assert httpx.post(f"http://127.0.0.1:{port}/").status_code == 404


def _get(httpx: Any, url: str) -> Any:
    try:
        response = httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None
    return response if response.status_code == 200 else None
