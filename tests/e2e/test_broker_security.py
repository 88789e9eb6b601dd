"""The broker lets a device go only where it belongs, checked with the real mosquitto clients."""

from __future__ import annotations

from pathlib import Path

import pytest

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
def device(fleet: Fleet) -> tuple[str, Path, tuple[str, str, str]]:
    device_id, config = fleet.enrolled_agent(area="thon-a")
    return device_id, config, broker_credentials(config)


def test_device_cannot_publish_outside_its_own_topics(stack: Stack, fleet: Fleet, device) -> None:
    device_id, _, creds = device
    other_id, _ = fleet.register("thon-b")
    forbidden = [
        f"loa/v1/dev/{other_id}/telemetry", f"loa/v1/dev/{other_id}/status", f"loa/v1/dev/{other_id}/event",
        f"loa/v1/dev/{device_id}/cmd", f"loa/v1/dev/{device_id}/desired", f"loa/v1/dev/{other_id}/cmd",
        "loa/v1/area/thon-a/desired", "loa/v1/area/thon-a/cmd", "loa/v1/area/xa-mot/cmd",
        "loa/v1/stream/s1/chunk", "loa/v1/stream/s1/meta", "loa/v1/ctl/ctl-1/state",
        "loa/v1/keys/0123456789abcdef/revoked", "$CONTROL/dynamic-security/v1",
    ]
    allowed = f"loa/v1/dev/{device_id}/telemetry"
    watch = TopicWatch(stack)  # subscribed (SUBACK) before anything is published
    try:
        for topic in forbidden:
            mqtt_pub(stack, creds, topic, "forged")
        mqtt_pub(stack, creds, allowed, "own-topic-marker")
        # each publish was acknowledged before the next began: a leaked one would arrive before the marker
        wait_for(lambda: f"{allowed} own-topic-marker" in watch.lines(), 5.0, what="the allowed publish")
        seen = watch.lines()
    finally:
        watch.close()
    leaked = [line for line in seen if line.endswith(" forged")]
    assert leaked == []


def test_device_subscriptions_are_limited(stack: Stack, fleet: Fleet, device) -> None:
    device_id, _, creds = device
    other_id, _ = fleet.register("thon-b")
    for topic in ["#", "loa/v1/#", f"loa/v1/dev/{other_id}/cmd", f"loa/v1/dev/{other_id}/desired",
                  "loa/v1/dev/+/cmd", "loa/v1/area/thon-b/desired", "loa/v1/area/xa-hai/cmd",
                  "loa/v1/stream/+/chunk", "loa/v1/stream/#", "$SYS/#"]:
        result = mqtt_sub(stack, creds, topic, wait=1)
        assert "denied" in result.stderr, f"subscription to {topic} was not refused: {result.stderr!r}"
    for topic in [f"loa/v1/dev/{device_id}/cmd", "loa/v1/area/thon-a/desired", "loa/v1/area/xa-mot/cmd",
                  "loa/v1/area/tinh-thu/desired", "loa/v1/stream/s1/chunk",
                  "loa/v1/keys/0123456789abcdef/revoked"]:
        result = mqtt_sub(stack, creds, topic, wait=1)
        assert "denied" not in result.stderr, f"{topic} should be allowed: {result.stderr!r}"


def test_identity_and_credentials_are_enforced(stack: Stack, device) -> None:
    device_id, _, (username, password, client_id) = device
    topic = f"loa/v1/dev/{device_id}/cmd"
    assert "not authorised" in mqtt_sub(stack, (username, password, "someone-else"), topic).stderr
    assert "not authorised" in mqtt_sub(stack, (username, "wrong-password", client_id), topic).stderr
    assert "not authorised" in mqtt_sub(stack, (None, None, client_id), topic).stderr
    assert "not authorised" in mqtt_sub(stack, ("nobody", "nothing-here", "nobody"), topic).stderr


def test_deleted_device_is_cut_off_within_5_seconds(stack: Stack, fleet: Fleet, device) -> None:
    device_id, config, creds = device
    agent = fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 5.0, what="online")
    log = config.parent / "agent.log"
    fleet.http.delete(f"/api/v1/devices/{device_id}").raise_for_status()
    wait_for(lambda: "connection lost" in log.read_text(), 5.0, what="session cut within 5 s")
    assert "not authorised" in mqtt_sub(stack, creds, f"loa/v1/dev/{device_id}/cmd").stderr
    # the agent's next attempt (within its backoff window) is refused, and it stops
    wait_for(lambda: agent.process.poll() is not None, 15.0, what="agent refused")
    assert agent.process.returncode == 3  # the agent's exit code for refused credentials


def test_reenrolled_device_old_credentials_stop_working(stack: Stack, fleet: Fleet, device, tmp_path) -> None:
    device_id, config, old_creds = device
    agent = fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 5.0, what="online")
    code = fleet.http.post(f"/api/v1/devices/{device_id}/claim-code").json()["claim_code"]
    result = fleet.enroll(code, tmp_path / "replacement")
    assert result.returncode == 0, result.stderr
    log = config.parent / "agent.log"
    wait_for(lambda: "connection lost" in log.read_text(), 5.0, what="old session cut within 5 s")
    assert "not authorised" in mqtt_sub(stack, old_creds, f"loa/v1/dev/{device_id}/cmd").stderr
    wait_for(lambda: agent.process.poll() is not None, 15.0, what="old agent refused")
    new_creds = broker_credentials(tmp_path / "replacement" / "agent.toml")
    assert "denied" not in mqtt_sub(stack, new_creds, f"loa/v1/dev/{device_id}/cmd", wait=1).stderr


def test_claim_code_works_once(fleet: Fleet, tmp_path: Path) -> None:
    _, code = fleet.register("thon-a")
    assert fleet.enroll(code, tmp_path / "first").returncode == 0
    second = fleet.enroll(code, tmp_path / "second")
    assert second.returncode == 2
    assert "claim code is not valid" in second.stderr
    assert not (tmp_path / "second" / "agent.toml").exists()
