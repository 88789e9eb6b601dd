"""The broker lets a device go only where it belongs, checked with the real mosquitto clients, on
Mosquitto and on a three-node NATS cluster (the same tests, each broker's own controller)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from loalang_protocol.http_auth import sign_request
from loalang_protocol.keys import KeyPair
from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.testkit import (
    Fleet,
    Stack,
    TopicWatch,
    broker_credentials,
    mqtt_pub,
    mqtt_sub,
    wait_for,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def device(broker_fleet: Fleet) -> tuple[str, Path, tuple[str, str, str]]:
    device_id, config = broker_fleet.enrolled_agent(area="thon-a")
    return device_id, config, broker_credentials(config)


def test_device_cannot_publish_outside_its_own_topics(broker_stack: Stack, broker_fleet: Fleet,
                                                      device) -> None:
    device_id, _, creds = device
    other_id, _ = broker_fleet.register("thon-b")
    forbidden = [
        f"loa/v1/dev/{other_id}/telemetry", f"loa/v1/dev/{other_id}/status", f"loa/v1/dev/{other_id}/event",
        f"loa/v1/dev/{device_id}/cmd", f"loa/v1/dev/{device_id}/desired", f"loa/v1/dev/{other_id}/cmd",
        "loa/v1/area/thon-a/desired", "loa/v1/area/thon-a/cmd", "loa/v1/area/xa-mot/cmd",
        "loa/v1/stream/s1/chunk", "loa/v1/stream/s1/meta", "loa/v1/ctl/ctl-1/state",
        "loa/v1/keys/0123456789abcdef/revoked", "$CONTROL/dynamic-security/v1",
    ]
    allowed = f"loa/v1/dev/{device_id}/telemetry"
    watch = TopicWatch(broker_stack)  # subscribed (SUBACK) before anything is published
    try:
        for topic in forbidden:
            mqtt_pub(broker_stack, creds, topic, "forged")
        mqtt_pub(broker_stack, creds, allowed, "own-topic-marker")
        # each publish was acknowledged before the next began: a leaked one would arrive before the marker
        wait_for(lambda: f"{allowed} own-topic-marker" in watch.lines(), 5.0, what="the allowed publish")
        seen = watch.lines()
    finally:
        watch.close()
    leaked = [line for line in seen if line.endswith(" forged")]
    assert leaked == []


def test_device_subscriptions_are_limited(broker_system: tuple[str, Stack, ControllerProcess],
                                          broker_stack: Stack, broker_fleet: Fleet, device) -> None:
    device_id, _, creds = device
    other_id, _ = broker_fleet.register("thon-b")
    refused = ["#", "loa/v1/#", f"loa/v1/dev/{other_id}/cmd", f"loa/v1/dev/{other_id}/desired",
               "loa/v1/dev/+/cmd", "loa/v1/area/thon-b/desired", "loa/v1/area/xa-hai/cmd",
               "loa/v1/stream/+/chunk", "loa/v1/stream/#", "$SYS/#", "$MQTT/sub/#", "$JS/API/#"]
    if broker_system[0] == "nats":
        # NATS grants a subscription identical to a granted pattern: a device may join every live
        # stream at once there, not only the one it is told to (docs/nats.md, "Live streams").
        refused.remove("loa/v1/stream/+/chunk")
        assert "denied" not in mqtt_sub(broker_stack, creds, "loa/v1/stream/+/chunk", wait=1).stderr
    for topic in refused:
        result = mqtt_sub(broker_stack, creds, topic, wait=1)
        assert "denied" in result.stderr, f"subscription to {topic} was not refused: {result.stderr!r}"
    for topic in [f"loa/v1/dev/{device_id}/cmd", "loa/v1/area/thon-a/desired", "loa/v1/area/xa-mot/cmd",
                  "loa/v1/area/tinh-thu/desired", "loa/v1/stream/s1/chunk",
                  "loa/v1/keys/0123456789abcdef/revoked"]:
        result = mqtt_sub(broker_stack, creds, topic, wait=1)
        assert "denied" not in result.stderr, f"{topic} should be allowed: {result.stderr!r}"


def test_identity_and_credentials_are_enforced(broker_system: tuple[str, Stack, ControllerProcess],
                                               broker_stack: Stack, device) -> None:
    device_id, _, (username, password, client_id) = device
    topic = f"loa/v1/dev/{device_id}/cmd"
    if broker_system[0] == "mosquitto":  # NATS does not bind client ids to users: see the next test
        assert "not authorised" in mqtt_sub(broker_stack, (username, password, "someone-else"), topic).stderr
    assert "not authorised" in mqtt_sub(broker_stack, (username, "wrong-password", client_id), topic).stderr
    assert "not authorised" in mqtt_sub(broker_stack, (None, None, client_id), topic).stderr
    assert "not authorised" in mqtt_sub(broker_stack, ("nobody", "nothing-here", "nobody"), topic).stderr


def test_no_device_can_take_another_devices_session(broker_system: tuple[str, Stack, ControllerProcess],
                                                    broker_stack: Stack, broker_fleet: Fleet, device) -> None:
    device_id, config, (username, _, client_id) = device
    agent = broker_fleet.start(config)
    wait_for(lambda: broker_fleet.online(device_id), 10.0, what="online")
    _, other_config = broker_fleet.enrolled_agent(area="thon-b")
    other_username, other_password, _ = broker_credentials(other_config)
    # The other device connects with the client ids it can derive from what it sees (the first one's
    # id in topics); on NATS the real one carries a secret only the controller and the device hold.
    for guessed in (username, device_id):
        result = mqtt_sub(broker_stack, (other_username, other_password, guessed), "loa/v1/#", wait=1)
        if broker_system[0] == "mosquitto":
            assert "not authorised" in result.stderr
    time.sleep(1.0)
    log = (config.parent / "agent.log").read_text()
    assert "connection lost" not in log, "the device's session was taken over"
    assert agent.process is not None and agent.process.poll() is None
    assert broker_fleet.online(device_id)
    if broker_system[0] == "nats":  # the device's real client id is not derivable from what others see
        assert client_id.startswith(f"dev-{device_id}-") and len(client_id) > len(f"dev-{device_id}-") + 8


def test_deleted_device_is_cut_off_within_5_seconds(broker_stack: Stack, broker_fleet: Fleet, device) -> None:
    device_id, config, creds = device
    agent = broker_fleet.start(config)
    wait_for(lambda: broker_fleet.online(device_id), 5.0, what="online")
    log = config.parent / "agent.log"
    broker_fleet.http.delete(f"/api/v1/devices/{device_id}").raise_for_status()
    wait_for(lambda: "connection lost" in log.read_text(), 5.0, what="session cut within 5 s")
    assert "not authorised" in mqtt_sub(broker_stack, creds, f"loa/v1/dev/{device_id}/cmd").stderr
    # the agent's next attempt (within its backoff window) is refused, and it stops
    wait_for(lambda: agent.process.poll() is not None, 15.0, what="agent refused")
    assert agent.process.returncode == 3  # the agent's exit code for refused credentials


def test_reenrolled_device_old_credentials_stop_working(broker_stack: Stack, broker_fleet: Fleet, device,
                                                       tmp_path) -> None:
    device_id, config, old_creds = device
    agent = broker_fleet.start(config)
    wait_for(lambda: broker_fleet.online(device_id), 5.0, what="online")
    code = broker_fleet.http.post(f"/api/v1/devices/{device_id}/claim-code").json()["claim_code"]
    result = broker_fleet.enroll(code, tmp_path / "replacement")
    assert result.returncode == 0, result.stderr
    log = config.parent / "agent.log"
    wait_for(lambda: "connection lost" in log.read_text(), 5.0, what="old session cut within 5 s")
    assert "not authorised" in mqtt_sub(broker_stack, old_creds, f"loa/v1/dev/{device_id}/cmd").stderr
    wait_for(lambda: agent.process.poll() is not None, 15.0, what="old agent refused")
    new_creds = broker_credentials(tmp_path / "replacement" / "agent.toml")
    assert "denied" not in mqtt_sub(broker_stack, new_creds, f"loa/v1/dev/{device_id}/cmd", wait=1).stderr


def renew_login(fleet: Fleet, device_id: str, signer: Path | None) -> httpx.Response:
    """POST the broker-login renewal for device_id, signed with the key of the agent whose
    configuration is signer (unsigned when None)."""
    path = f"/api/v1/devices/{device_id}/broker-login"
    headers = {}
    if signer is not None:
        config = config_file.load(signer)
        headers = sign_request(KeyPair.load(config.key_file), config.device_id, "POST", path, body=b"")
    return httpx.post(fleet.controller.url + path, headers=headers, content=b"", timeout=15)


def test_only_an_enrolled_device_renews_its_own_login(broker_fleet: Fleet, device) -> None:
    device_id, config, _ = device
    other_id, other_config = broker_fleet.enrolled_agent(area="thon-b")
    unsigned = renew_login(broker_fleet, device_id, None)
    assert unsigned.status_code in (401, 403) and unsigned.json()["code"].startswith("device_")
    assert renew_login(broker_fleet, other_id, config).json()["code"] == "not_own_login"
    renewed = renew_login(broker_fleet, device_id, config)
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["username"] == f"dev-{device_id}"
    again = renew_login(broker_fleet, device_id, config)
    assert (again.status_code, again.json()["code"]) == (429, "login_renewed_recently")
    broker_fleet.http.delete(f"/api/v1/devices/{other_id}").raise_for_status()
    assert renew_login(broker_fleet, other_id, other_config).status_code in (401, 403)


def test_claim_code_works_once(fleet: Fleet, tmp_path: Path) -> None:
    _, code = fleet.register("thon-a")
    assert fleet.enroll(code, tmp_path / "first").returncode == 0
    second = fleet.enroll(code, tmp_path / "second")
    assert second.returncode == 2
    assert "claim code is not valid" in second.stderr
    assert not (tmp_path / "second" / "agent.toml").exists()
