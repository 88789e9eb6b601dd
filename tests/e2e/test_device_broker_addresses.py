"""Broker addresses given to devices through their signed desired state, over the real controller,
agent and broker (Mosquitto, and a NATS cluster where marked): the agent keeps working, on the same
connection, and keeps the list in its configuration file; a list it cannot use changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from loalang_protocol import topics
from loalang_protocol.topics import DeviceTopic
from loalang_stack.ports import free_port
from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.testkit import Fleet, Stack, new_commune, ping, publish_as_controller, wait_for

pytestmark = pytest.mark.e2e


def _running_agent(fleet: Fleet) -> tuple[str, Path]:
    device_id, config = fleet.enrolled_agent(area="thon-b")
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 10.0, what="online")
    return device_id, config


def _applied(fleet: Fleet, device_id: str, version: int) -> bool:
    return bool(fleet.device(device_id)["applied_version"] == version)


def test_an_agent_given_addresses_keeps_working_and_keeps_them(broker_fleet: Fleet) -> None:
    """On both brokers (broker_fleet)."""
    fleet = broker_fleet
    device_id, config = _running_agent(fleet)
    live = config_file.load(config).broker
    connection = fleet.device(device_id)["presence"]["connection"]
    dead_port = free_port()
    nodes = [{"host": "127.0.0.1", "port": dead_port}, {"host": live.host, "port": live.port}]
    response = fleet.http.put(f"/api/v1/devices/{device_id}/broker-addresses", json={"addresses": nodes})
    assert response.status_code == 200, response.text
    version = response.json()["desired_version"]
    wait_for(lambda: _applied(fleet, device_id, version), 10.0, what="desired state applied")

    assert config_file.load(config).broker.addresses == [f"127.0.0.1:{dead_port}", f"{live.host}:{live.port}"]
    assert config.stat().st_mode & 0o777 == 0o600
    assert ping(fleet, device_id)["ok"]
    assert fleet.device(device_id)["presence"]["connection"] == connection, "its node is listed: no reconnect"


def test_a_bad_list_is_refused_by_the_api(fleet: Fleet) -> None:
    device_id, _ = fleet.register("thon-b")
    version = fleet.device(device_id)["desired_version"]
    for nodes in ([], [{"host": "bad host", "port": 1883}], [{"host": "a.vn", "port": 0}]):
        response = fleet.http.put(f"/api/v1/devices/{device_id}/broker-addresses", json={"addresses": nodes})
        assert response.status_code == 422 and response.json()["code"] == "broker_addresses_invalid", nodes
    assert fleet.device(device_id)["desired_version"] == version


def test_an_agent_refuses_an_empty_list_and_applies_the_rest(fleet: Fleet, stack: Stack,
                                                            controller: ControllerProcess) -> None:
    device_id, config = _running_agent(fleet)
    before = config.read_bytes()
    version = fleet.device(device_id)["desired_version"] + 1
    body = {"scope": "device", "target": device_id, "version": version, "settings": {"volume": 33},
            "areas": ["tinh-thu", "xa-mot", "thon-b"], "broker_addresses": []}
    publish_as_controller(stack, controller, topics.device(device_id, DeviceTopic.DESIRED), body)
    wait_for(lambda: _applied(fleet, device_id, version), 10.0, what="desired state applied")

    assert config.read_bytes() == before
    assert "broker addresses in desired state refused" in (config.parent / "agent.log").read_text()
    wait_for(lambda: (fleet.device(device_id)["telemetry"] or {}).get("volume") == 33, 10.0, what="volume")


def test_every_device_below_an_area_is_given_the_addresses(fleet: Fleet) -> None:
    commune, (village,) = new_commune(fleet, villages=1)
    devices = [fleet.register(commune)[0], fleet.register(village)[0]]
    versions = [fleet.device(device_id)["desired_version"] for device_id in devices]
    nodes = [{"host": "nats-1.example.vn", "port": 1883}, {"host": "nats-2.example.vn", "port": 1883}]
    response = fleet.http.put(f"/api/v1/areas/{commune}/broker-addresses", json={"addresses": nodes})
    assert response.status_code == 200, response.text
    assert sorted(response.json()["device_ids"]) == sorted(devices)
    assert [fleet.device(device_id)["desired_version"] for device_id in devices] == [v + 1 for v in versions]
