"""Malformed, oversized and hostile payloads on every subscription are dropped, counted and logged,
and a valid signed command still works after each one."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from loalang_stack.services import ControllerProcess
from tests.testkit import Fleet, Stack, mqtt_publish, ping, wait_for

pytestmark = pytest.mark.e2e

rng = random.Random(20261126)


def hostile_payloads() -> list[tuple[str, bytes]]:
    """At least thirty kinds of bad input."""
    envelope_like = {"v": 1, "kid": "0" * 16, "iat": 1, "exp": 2, "epoch": 0, "seq": 1, "cert": None,
                     "body": {}, "sig": "AAAA"}
    cases: list[tuple[str, bytes]] = [
        ("empty object", b"{}"),
        ("null", b"null"),
        ("array", b"[1, 2, 3]"),
        ("number", b"42"),
        ("string", b'"hello"'),
        ("truncated json", b'{"online": true, "boot": 3, "co'),
        ("truncated envelope", json.dumps(envelope_like).encode()[:40]),
        ("invalid utf-8", b'{"a": "\xff\xfe\xfd"}'),
        ("nan", b'{"online": true, "boot": NaN, "conn": 1, "install_id": "i-1"}'),
        ("huge integer", b'{"boot": ' + b"9" * 5000 + b"}"),
        ("deep nesting", b"[" * 100_000 + b"]" * 100_000),
        ("wrong types", b'{"online": "yes", "boot": "3", "conn": [], "install_id": 7}'),
        ("negative counters", b'{"online": true, "boot": -1, "conn": -5, "install_id": "i-1"}'),
        ("bad slug", b'{"online": true, "boot": 1, "conn": 1, "install_id": "../../etc"}'),
        ("wrong telemetry", b'{"ts": "now", "uptime_s": -4, "cpu_temp_c": 9999}'),
        ("unknown protocol", b'{"online": true, "boot": 1, "conn": 1, "install_id": "i-1", "protocol": 99}'),
        ("unknown envelope version", json.dumps({**envelope_like, "v": 99}).encode()),
        ("envelope without signature",
         json.dumps({k: v for k, v in envelope_like.items() if k != "sig"}).encode()),
        ("envelope with bad signature", json.dumps(envelope_like).encode()),
        ("envelope bool counter", json.dumps({**envelope_like, "seq": True}).encode()),
        ("envelope body not object", json.dumps({**envelope_like, "body": [1]}).encode()),
        ("extra envelope fields", json.dumps({**envelope_like, "x": 1}).encode()),
        ("1 MB blob", os.urandom(1024 * 1024)),
        ("1 MB json string", b'"' + b"a" * (1024 * 1024) + b'"'),
        ("zero bytes", b"\x00" * 64),
        ("long string field", json.dumps({"id": "x" * 100_000, "ok": True}).encode()),
        ("event-like without key", json.dumps({**envelope_like, "body": {"install_id": "i-1", "seq": 1,
                                                                           "type": "x", "ts": 1}}).encode()),
        ("clock request bad nonce", b'{"nonce": "<script>", "t0_us": 1}'),
        ("reply without id", b'{"ok": true}'),
        ("html", b"<html><body>hello</body></html>"),
    ]
    cases += [(f"random bytes {i}", rng.randbytes(rng.randint(1, 4096))) for i in range(6)]
    return cases


PAYLOADS = hostile_payloads()


def test_there_are_at_least_thirty_cases() -> None:
    assert len(PAYLOADS) >= 30


def _counters(fleet: Fleet) -> dict[str, int]:
    response = fleet.http.get("/api/v1/system/status")
    response.raise_for_status()
    counters: dict[str, int] = response.json()["counters"]
    return counters


@pytest.fixture
def running(fleet: Fleet) -> tuple[str, Path]:
    device_id, config = fleet.enrolled_agent(area="thon-b")
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 5.0, what="online")
    return device_id, config


def test_controller_drops_bad_device_messages(stack: Stack, fleet: Fleet, controller: ControllerProcess,
                                              running: tuple[str, Path]) -> None:
    """Device topics: what a stolen device password or a compromised broker could send.

    Published with the broker's administrative account, so that the device's own session
    stays up and the ping after each payload shows the whole path still works.
    """
    device_id, _config = running
    leaves = ["status", "telemetry", "event", "reply", "reported", "clock/req"]
    before = sum(_counters(fleet).values())
    for index, (name, payload) in enumerate(PAYLOADS):
        topic = f"loa/v1/dev/{device_id}/{leaves[index % len(leaves)]}"
        mqtt_publish(stack, topic, payload)
        assert ping(fleet, device_id, timeout=15)["ok"] is True, f"no ping after {name}"
    dropped = sum(_counters(fleet).values()) - before
    assert dropped >= len(PAYLOADS) - 2, _counters(fleet)  # empty retained clears are not drops
    log = (controller.data_dir / "controller.log").read_text()
    assert log.count("dropped message on loa/v1/dev/") >= len(PAYLOADS) - 2
    assert fleet.online(device_id)


def test_agent_drops_bad_controller_messages(stack: Stack, fleet: Fleet, running: tuple[str, Path]) -> None:
    """A compromised broker or controller account cannot make the agent act on garbage."""
    device_id, config = running
    topics = [f"loa/v1/dev/{device_id}/desired", f"loa/v1/dev/{device_id}/cmd", f"loa/v1/dev/{device_id}/ack",
              f"loa/v1/dev/{device_id}/clock/reply", "loa/v1/area/thon-b/desired", "loa/v1/area/xa-mot/cmd",
              "loa/v1/ctl/ctl-9/state"]
    for index, (name, payload) in enumerate(PAYLOADS):
        mqtt_publish(stack, topics[index % len(topics)], payload)
        assert ping(fleet, device_id)["ok"] is True, f"no ping after {name}"
    wait_for(lambda: (fleet.device(device_id)["telemetry"] or {}).get("rejected_messages", 0)
             >= len(PAYLOADS) - 1, 10.0, what="telemetry counting the rejected messages")
    log = (config.parent / "agent.log").read_text()
    assert log.count("rejected message on") + log.count("unreadable controller state") >= len(PAYLOADS) - 1
    assert fleet.online(device_id)
