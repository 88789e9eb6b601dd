"""Agents act only on messages signed by a key the root certified, fresh and never seen before."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loalang_protocol import envelope
from loalang_protocol.envelope import Counter
from loalang_protocol.keys import PURPOSE_CONTROL, KeyPair, issue_certificate
from loalang_protocol.messages import Command
from loalang_stack import broker
from loalang_stack.services import ControllerProcess
from tests.testkit import Fleet, Stack, TopicWatch, mqtt_publish, ping, security_events, wait_for

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


def _command_topic(device_id: str) -> str:
    return f"loa/v1/dev/{device_id}/cmd"


def _reasons(fleet: Fleet, device_id: str) -> list[str]:
    return [e["data"]["reason"] for e in security_events(fleet, device_id)]


def _started(fleet: Fleet) -> str:
    """An agent online whose clock is trusted (expiry can only be judged with a known time)."""
    device_id, config = fleet.enrolled_agent()
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 5.0, what="online")
    wait_for(lambda: (fleet.device(device_id)["telemetry"] or {}).get("time_known"), 10.0, what="time known")
    return device_id


def _command(name: str = "ping") -> dict[str, object]:
    return Command(id=f"c-{time.time_ns()}", name=name).model_dump()


def test_uncertified_key_is_rejected_and_reported(stack: Stack, fleet: Fleet) -> None:
    device_id = _started(fleet)
    rogue_root, rogue = KeyPair.generate(), KeyPair.generate()
    rogue_cert = issue_certificate(rogue_root, rogue.public_bytes, PURPOSE_CONTROL, 3600)
    topic = _command_topic(device_id)
    payload = envelope.seal(topic, _command(), rogue, Counter(2**40, 1), 60, rogue_cert)
    mqtt_publish(stack, topic, payload)
    wait_for(lambda: "uncertified_key" in _reasons(fleet, device_id), 5.0, what="security event")
    assert ping(fleet, device_id)["ok"] is True


def test_expired_message_is_rejected_and_reported(stack: Stack, fleet: Fleet,
                                                   controller: ControllerProcess) -> None:
    device_id = _started(fleet)
    keys = controller.data_dir / "keys"
    signing = KeyPair.load(keys / "signing.key")

    cert = json.loads((keys / "signing.cert.json").read_text())
    topic = _command_topic(device_id)
    old = int(time.time() * 1000) - 3_600_000
    payload = envelope.seal(topic, _command(), signing, Counter(2**40, 2), 60, cert, issued_ms=old)
    mqtt_publish(stack, topic, payload)
    wait_for(lambda: "expired" in _reasons(fleet, device_id), 5.0, what="security event")


def test_replayed_command_is_rejected_and_retained_repeat_is_not(stack: Stack, fleet: Fleet) -> None:
    device_id = _started(fleet)
    topic = _command_topic(device_id)
    capture = TopicWatch(stack, topic)  # subscribed (SUBACK) before the ping is sent
    try:
        assert ping(fleet, device_id)["ok"] is True
        recorded = wait_for(capture.payloads, 10.0, what="the signed command captured")[0]
    finally:
        capture.close()
    assert recorded.startswith(b"{")
    mqtt_publish(stack, topic, recorded)
    wait_for(lambda: "replayed" in _reasons(fleet, device_id), 5.0, what="replay reported")
    # The retained desired state is delivered again on every reconnect: a repeat, not an attack.
    before = len(security_events(fleet, device_id))
    fleet.http.post(f"/api/v1/devices/{device_id}/commands", json={"name": "resync"}).raise_for_status()
    assert ping(fleet, device_id)["ok"] is True
    assert len(security_events(fleet, device_id)) == before


def test_rotated_signing_key_certified_by_root_is_accepted(
    fleet: Fleet, controller: ControllerProcess
) -> None:
    device_id = _started(fleet)
    keys = controller.data_dir / "keys"
    old_kid = KeyPair.load(keys / "signing.key").kid
    result = subprocess.run([str(BIN / "radio-controller"), "keys", "certify", "--dir", str(keys),
                             "--root-key", str(keys / "root.key")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert KeyPair.load(keys / "signing.key").kid != old_kid
    controller.stop()
    controller.start()
    fleet.login()
    version = fleet.http.patch(f"/api/v1/devices/{device_id}/settings", json={"volume": 44}).json()
    wait_for(lambda: fleet.device(device_id)["applied_version"] == version["desired_version"], 10.0,
             what="the new key's desired state applied")
    assert _reasons(fleet, device_id) == []


def test_an_older_retained_state_from_a_restored_broker_is_not_an_attack(stack: Stack, fleet: Fleet) -> None:
    """The broker saves its retained messages every 30 s; killed, it comes back with the older ones.
    The agent keeps the newer state it holds, and reports no replay."""
    device_id = _started(fleet)

    def applied(volume: int) -> int:
        version = int(fleet.http.patch(f"/api/v1/devices/{device_id}/settings", json={"volume": volume}
                                       ).json()["desired_version"])
        wait_for(lambda: fleet.device(device_id)["applied_version"] == version, 10.0,
                 what=f"v{version} applied")
        return version

    applied(40)
    saved = stack.broker_config.data_dir / "mosquitto.db"
    before = saved.stat().st_mtime_ns if saved.exists() else 0
    stack.broker.signal(signal.SIGUSR1)  # Mosquitto saves its retained messages now
    wait_for(lambda: saved.exists() and saved.stat().st_mtime_ns != before, 10.0, what="the broker's save")
    newer = applied(41)
    connection = fleet.device(device_id)["presence"]["connection"]
    rejected = fleet.device(device_id)["telemetry"]["rejected_messages"]
    stack.broker.signal(signal.SIGKILL)  # the newer state was never saved
    assert stack.broker.process is not None
    stack.broker.process.wait(10)
    stack.broker, _ = broker.start(stack.broker_config)
    back = lambda: fleet.online(device_id) and fleet.device(device_id)["presence"]["connection"] > connection  # noqa: E731
    wait_for(back, 30.0, what="the agent back on the restored broker")
    assert ping(fleet, device_id, timeout=15)["ok"] is True
    asked = time.time() * 1000
    telemetry = wait_for(lambda: (t := fleet.device(device_id)["telemetry"]) and t["ts"] > asked and t, 10.0,
                         what="the agent's telemetry after the restart")
    assert telemetry["rejected_messages"] == rejected, "an older retained copy is not an attack"
    assert "replayed" not in _reasons(fleet, device_id)
    assert fleet.device(device_id)["applied_version"] == newer, "the newer state is kept"
    wait_for(lambda: retained_version(stack, f"loa/v1/dev/{device_id}/desired") == newer, 10.0,
             what="the controller's current state back on the broker for boards that start afresh")


def retained_version(stack: Stack, topic: str) -> int | None:
    """The version of the desired state the broker holds on topic now."""
    received = subprocess.run(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(stack.mqtt_port), "-u", "loalang-controller",
         "-P", stack.broker_config.password_file.read_text().strip(), "-t", topic, "-C", "1", "-W", "3"],
        capture_output=True, timeout=15)
    return int(json.loads(received.stdout)["body"]["version"]) if received.returncode == 0 else None
