"""A revoked signing key makes no cluster speak: the root-signed revocation list reaches every agent.

The operator rotates the signing key (keys certify, restart), revokes the old one with the root key
on an offline machine (keys revoke) and hands the list to the controller (PUT
/api/v1/system/keys/revocations), which publishes it. Whoever still holds the old key, and the
controller's broker account, makes no agent act, even one restarted after the list left the broker.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from loalang_protocol import envelope, topics
from loalang_protocol.canonical import canonical_json
from loalang_protocol.envelope import Counter
from loalang_protocol.keys import KeyPair, b64decode, b64encode, key_id
from loalang_protocol.messages import Command
from loalang_stack.broker import CONTROLLER_USERNAME
from loalang_stack.ports import free_port
from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.testkit import (
    Fleet,
    Stack,
    controller_password,
    flush_redis,
    mqtt_publish,
    own_fleet,
    own_stack,
    ping,
    publish_as_controller,
    security_events,
    tone_onset,
    user_client,
    wait_for,
)

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
KEEPALIVE_S = 5.0  # LOALANG_DEVICE_KEEPALIVE_S of the test stack
TONE_HZ = 1750.0


def _agents(fleet: Fleet, count: int = 2) -> list[tuple[str, Path]]:
    """Agents online, their clock known."""
    agents = [fleet.enrolled_agent(area="thon-a") for _ in range(count)]
    for _, config in agents:
        fleet.start(config)
    for device_id, _ in agents:
        wait_for(lambda d=device_id: (fleet.device(d)["telemetry"] or {}).get("time_known"), 20.0,
                 what=f"{device_id} online with its clock known")
    return agents


def _rotate(fleet: Fleet) -> tuple[KeyPair, dict[str, object]]:
    """Certify a new signing key with the root and restart the controller; returns the old key and its
    certificate (what a thief of the old key holds)."""
    keys = fleet.controller.data_dir / "keys"
    old = KeyPair.load(keys / "signing.key"), json.loads((keys / "signing.cert.json").read_text())
    certified = subprocess.run([str(BIN / "radio-controller"), "keys", "certify", "--dir", str(keys),
                                "--root-key", str(keys / "root.key")], capture_output=True, text=True)
    assert certified.returncode == 0, certified.stderr
    fleet.controller.stop()
    fleet.controller.start()
    fleet.login()
    return old


def _revoke_offline(fleet: Fleet, offline: Path, kid: str) -> dict[str, object]:
    """`keys revoke` on the operator's offline machine (root key, root.pub and the current certificate)."""
    keys = fleet.controller.data_dir / "keys"
    offline.mkdir()
    for name in ("root.key", "root.pub", "signing.cert.json"):
        shutil.copy(keys / name, offline / name)
    revoked = subprocess.run([str(BIN / "radio-controller"), "keys", "revoke", kid, "--root-key",
                              str(offline / "root.key"), "--dir", str(offline)],
                             capture_output=True, text=True)
    assert revoked.returncode == 0, revoked.stderr
    document: dict[str, object] = json.loads((offline / "revoked.json").read_text())
    return document


def _tone_signed_by(stack: Stack, key: KeyPair, certificate: dict[str, object], device_id: str) -> None:
    """A test-tone command signed by key with a fresh counter, published with the controller's account."""
    topic = topics.device(device_id, topics.DeviceTopic.COMMAND)
    command = Command(id=f"c-{time.time_ns()}", name="test-tone",
                      args={"frequency_hz": TONE_HZ, "seconds": 1})
    payload = envelope.seal(topic, command.model_dump(), key, Counter(2**45, time.time_ns()), 60, certificate)
    mqtt_publish(stack, topic, payload)


def _reasons(fleet: Fleet, device_id: str) -> list[str]:
    return [event["data"]["reason"] for event in security_events(fleet, device_id)]


def _refused_as_revoked(fleet: Fleet, device_id: str, before: int) -> bool:
    return _reasons(fleet, device_id).count("revoked_key") > before


def _card(config: Path) -> Path:
    return config_file.load(config).data_dir / "card"


def _clear_retained(stack: Stack, topic: str) -> None:
    """Remove a retained message from the broker, as a broker that lost its retained messages."""
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(stack.mqtt_port), "-u", CONTROLLER_USERNAME,
                    "-P", controller_password(stack), "-t", topic, "-n", "-r", "-q", "1"],
                   check=True, timeout=10, capture_output=True)


def _own_fleet(stack: Stack, tmp_path: Path, instance: str, redis_db: str) -> AbstractContextManager[Fleet]:
    """A controller of the test's own (its own keys, instance id and Redis database) and its fleet."""
    flush_redis(stack, redis_db)
    return own_fleet(stack, tmp_path, LOALANG_INSTANCE_ID=instance,
                     LOALANG_REDIS_URL=f"redis://127.0.0.1:{stack.redis_port}/{redis_db}")


def test_a_revoked_key_makes_no_agent_act_even_after_a_restart(stack: Stack, tmp_path: Path) -> None:
    with own_stack(stack, tmp_path) as own, _own_fleet(own, tmp_path, "ctl-revoke", "11") as fleet:
        agents = _agents(fleet)
        k1, k1_certificate = _rotate(fleet)
        k2 = KeyPair.load(fleet.controller.data_dir / "keys" / "signing.key")
        document = _revoke_offline(fleet, tmp_path / "offline", k1.kid)

        answer = fleet.http.put("/api/v1/system/keys/revocations", json=document)
        assert answer.status_code == 200, answer.text
        assert answer.json()["signing_key"] == k2.kid
        assert answer.json()["revocations"]["revoked"] == [k1.kid]
        again = fleet.http.put("/api/v1/system/keys/revocations", json=document)
        assert again.status_code == 409 and again.json()["code"] == "revocation_not_newer", again.text
        for device_id, _ in agents:
            wait_for(lambda d=device_id: fleet.device(d)["telemetry"]["revocation_serial"] == 1,
                     2 * KEEPALIVE_S, what=f"{device_id} holding the revocation list")

        for device_id, _ in agents:
            _tone_signed_by(own, k1, k1_certificate, device_id)
        for device_id, _ in agents:
            wait_for(lambda d=device_id: _refused_as_revoked(fleet, d, 0), KEEPALIVE_S,
                     what=f"{device_id} reporting the revoked key")
        for device_id, config in agents:
            assert tone_onset(_card(config), TONE_HZ) is None, f"{device_id} played a revoked key's tone"
            assert ping(fleet, device_id)["ok"] is True, "the new key still commands the agents"

        # The broker lost the list; an agent restarted now still holds it from its own disk.
        _clear_retained(own, _revocation_topic(fleet))
        device_id, config = agents[0]
        boot = fleet.device(device_id)["presence"]["boot"]
        fleet.agents[0].stop()
        fleet.agents[0].start()
        wait_for(lambda: (fleet.device(device_id)["presence"] or {}).get("boot", 0) > boot, 20.0,
                 what="the agent back after its restart")
        _tone_signed_by(own, k1, k1_certificate, device_id)
        wait_for(lambda: _refused_as_revoked(fleet, device_id, 1), KEEPALIVE_S,
                 what="the restarted agent reporting the revoked key")
        assert tone_onset(_card(config), TONE_HZ) is None, "the restarted agent played a revoked key's tone"
        since_ms = time.time() * 1000
        telemetry = wait_for(lambda: (t := fleet.device(device_id)["telemetry"]) and t["ts"] > since_ms and t,
                             2 * KEEPALIVE_S, what="telemetry of the restarted agent")
        assert telemetry["revocation_serial"] == 1, "the list held comes from the agent's own disk"


def _root_public(fleet: Fleet) -> bytes:
    return b64decode((fleet.controller.data_dir / "keys" / "root.pub").read_text().strip())


def _revocation_topic(fleet: Fleet) -> str:
    """Where the controller publishes its root's revocation list (docs/protocol.md)."""
    return f"loa/v1/keys/{key_id(_root_public(fleet))}/revoked"


def _list_signed_by(key: KeyPair, root_kid: str, revoked: list[str], serial: int) -> dict[str, object]:
    """A revocation list as docs/protocol.md spells it, signed by key (the root's, or a forger's)."""
    body = {"revoked": revoked, "serial": serial, "issued": int(time.time() * 1000), "root": root_kid}
    return {**body, "sig": b64encode(key.sign(b"loa-revoke-v1\x00" + canonical_json(body)))}


def test_a_list_not_signed_by_the_root_is_refused_by_agents_and_the_api(stack: Stack, tmp_path: Path) -> None:
    with own_stack(stack, tmp_path) as own, _own_fleet(own, tmp_path, "ctl-forged-list", "12") as fleet:
        agents = _agents(fleet)
        keys = fleet.controller.data_dir / "keys"
        signing = KeyPair.load(keys / "signing.key")
        forged = _list_signed_by(signing, key_id(_root_public(fleet)), [signing.kid], 99)
        topic = _revocation_topic(fleet)
        try:
            # A thief of the signing key and the controller's broker account tries to revoke that very key.
            publish_as_controller(own, fleet.controller, topic, forged)
            for device_id, _ in agents:
                wait_for(lambda d=device_id: "revocation_not_root_signed" in _reasons(fleet, d), KEEPALIVE_S,
                         what=f"{device_id} reporting the forged list")
                assert ping(fleet, device_id)["ok"] is True, "the key the forger named is still obeyed"
                assert fleet.device(device_id)["telemetry"]["revocation_serial"] is None
        finally:
            _clear_retained(own, topic)

        refused = fleet.http.put("/api/v1/system/keys/revocations", json=forged)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "revocation_not_root_signed"
        root = KeyPair.load(keys / "root.key")
        refused = fleet.http.put("/api/v1/system/keys/revocations",
                                 json=_list_signed_by(root, root.kid, [signing.kid], 1))
        assert refused.status_code == 409 and refused.json()["code"] == "revokes_signing_key", refused.text
        scoped, _ = user_client(fleet, "admin", "xa-mot")
        refused = scoped.put("/api/v1/system/keys/revocations", json=forged)
        assert refused.status_code == 403 and refused.json()["code"] == "whole_tree_only", refused.text
        assert fleet.http.get("/api/v1/system/keys").json()["revocations"] is None


def _serial_on_broker(stack: Stack, topic: str) -> int | None:
    """The serial of the revocation list the broker holds on topic now (None: none, or unreadable)."""
    received = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(stack.mqtt_port), "-u",
                               CONTROLLER_USERNAME, "-P", controller_password(stack), "-t", topic, "-C", "1",
                               "-W", "2", "-i", f"peek-{time.time_ns()}"], capture_output=True, timeout=15)
    if received.returncode != 0 or not received.stdout.strip():
        return None
    return int(json.loads(received.stdout)["body"]["serial"])


def test_every_controller_instance_converges_on_the_newest_list(stack: Stack, tmp_path: Path) -> None:
    """Several controllers, each with its own copy of the key folder: a list given to one reaches the
    others' folders, and a list its root did not sign does not stay on the broker."""
    with own_stack(stack, tmp_path) as own, _own_fleet(own, tmp_path, "ctl-keys-a", "14") as fleet:
        keys = fleet.controller.data_dir / "keys"
        other = ControllerProcess(tmp_path / "other", free_port(),
                                  {**fleet.controller.env, "LOALANG_INSTANCE_ID": "ctl-keys-b"})
        shutil.copytree(keys, other.data_dir / "keys")
        other.start()
        try:
            other_http = httpx.Client(base_url=other.url, timeout=15)
            other_http.headers["Authorization"] = fleet.http.headers["Authorization"]
            document = _revoke_offline(fleet, tmp_path / "offline", KeyPair.generate().kid)
            answer = fleet.http.put("/api/v1/system/keys/revocations", json=document)
            assert answer.status_code == 200, answer.text
            wait_for(lambda: other_http.get("/api/v1/system/keys").json()["revocations"] == document, 5.0,
                     what="the other instance holding the list")

            signing = KeyPair.load(keys / "signing.key")
            topic = _revocation_topic(fleet)
            publish_as_controller(own, fleet.controller, topic,
                                  _list_signed_by(signing, key_id(_root_public(fleet)), [signing.kid], 99))
            wait_for(lambda: _serial_on_broker(own, topic) == 1, 10.0,
                     what="the root's list back on the broker in place of the forged one")
        finally:
            other.stop()
