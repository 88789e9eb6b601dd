"""A device whose broker password was stolen costs the fleet nothing.

With a real device's broker account, a flood of births naming every area at version 0, of clock
requests and of events: the controller publishes again no state of an area outside that device's
own chain (and its own chain's at most once per gap), another real agent's clock exchange goes on
and a broadcast to it plays on time, and the flood reaches the operator once, as a `device.flood`
entry about that device in the audit log.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from loalang_stack import broker
from receiver_agent import config as config_file
from tests.testkit import (
    Fleet,
    Stack,
    audit_entries,
    controller_password,
    learned_offset_ms,
    new_commune,
    schedule,
    tone_onset,
    wait_for,
)

pytestmark = pytest.mark.e2e

FLOOD_S = 10.0
PER_SECOND = 200  # of each kind
AREA_GAP_S = 5.0  # controller/mqtt/resync.py


class Monitor:
    """What the controller publishes on area states and on one device's clock replies, as the broker
    delivers it live (retained copies sent at subscription are left out)."""

    def __init__(self, stack: Stack, device_id: str) -> None:
        self.seen: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-monitor-{time.time_ns()}",
                                  protocol=MQTTProtocolVersion.MQTTv311)
        self.client.username_pw_set(broker.CONTROLLER_USERNAME, controller_password(stack))
        self.client.on_message = self._keep
        self.client.connect("127.0.0.1", stack.mqtt_port)
        self.client.subscribe([("loa/v1/area/+/desired", 1), (f"loa/v1/dev/{device_id}/clock/reply", 0)])
        self.client.loop_start()

    def _keep(self, client: Any, userdata: Any, message: Any) -> None:
        if not message.retain:
            with self._lock:
                self.seen.append((time.time(), message.topic))

    def between(self, start: float, end: float) -> list[str]:
        """Topics published in [start, end)."""
        with self._lock:
            return [topic for at, topic in self.seen if start <= at < end]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def flood(stack: Stack, config: Path, areas: list[str], stop: threading.Event) -> int:
    """Births naming every area at version 0, clock requests and events, with the device's own broker
    account, until stop or FLOOD_S; returns how many messages were sent."""
    settings = config_file.load(config)
    device_id, account = settings.device_id, settings.broker
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=account.username,
                         protocol=MQTTProtocolVersion.MQTTv311)
    client.username_pw_set(account.username, account.password)
    client.connect("127.0.0.1", stack.mqtt_port)
    client.loop_start()
    sent, started = 0, time.monotonic()
    try:
        while not stop.is_set() and time.monotonic() - started < FLOOD_S:
            for n in range(PER_SECOND // 20):
                named = areas[(sent + n) * 16 % len(areas):][:16]  # a birth names at most 16
                messages = {"status": birth(sent + n, named), "clock/req": clock_request(sent + n),
                            "event": json.dumps({"forged": sent + n})}
                for leaf, body in messages.items():
                    client.publish(f"loa/v1/dev/{device_id}/{leaf}", body, qos=0)
                sent += 1
            time.sleep(0.05)
    finally:
        client.loop_stop()
        client.disconnect()
    return sent * 3


def birth(conn: int, areas: list[str]) -> str:
    return json.dumps({"online": True, "boot": 1, "conn": conn, "install_id": "stolen",
                       "held": {"device": 0, "areas": dict.fromkeys(areas, 0)},
                       "ts": int(time.time() * 1000)})


def clock_request(n: int) -> str:
    return json.dumps({"nonce": f"flood-{n:08d}", "t0_us": time.time_ns() // 1000})


@contextmanager
def flooding(stack: Stack, config: Path, areas: list[str]) -> Iterator[dict[str, Any]]:
    """The flood running in a thread while the block runs; yields what it did (sent, started_s)."""
    stop = threading.Event()
    result: dict[str, Any] = {"started_s": time.time()}
    thread = threading.Thread(target=lambda: result.update(sent=flood(stack, config, areas, stop)))
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join(30)
        result["ended_s"] = time.time()


def versioned_states(fleet: Fleet, monitor: Monitor, *area_ids: str) -> None:
    """Give each area a desired state of version 1 or more (an item an hour away, silent till then),
    and see it published before the flood starts."""
    since = time.time()
    for area_id in area_ids:
        schedule(fleet, area_id=area_id, level="normal", start_ms=int(time.time() * 1000) + 3_600_000,
                 duration_ms=1000, source={"type": "tone", "frequency_hz": 300})
    for area_id in area_ids:
        wait_for(lambda a=area_id: f"loa/v1/area/{a}/desired" in monitor.between(since, time.time() + 1),
                 10.0, what=f"the desired state of {area_id} published")


def flood_told(fleet: Fleet, device_id: str) -> list[dict[str, Any]]:
    """The audit entries that tell the operator of the device's flood."""
    return [e for e in audit_entries(fleet, "device.flood", "system") if e["targets"] == [device_id]]


def test_a_stolen_device_password_costs_the_fleet_nothing(fleet: Fleet, stack: Stack) -> None:
    commune, (thief_village, victim_village) = new_commune(fleet, villages=2)
    thief_id, thief = fleet.enrolled_agent(area=thief_village)  # its account is stolen; the board is off
    victim_id, victim = fleet.enrolled_agent(area=victim_village)
    fleet.start(victim)
    wait_for(lambda: learned_offset_ms(victim) is not None, 30.0, what="the other board's clock")
    monitor = Monitor(stack, victim_id)
    try:
        versioned_states(fleet, monitor, victim_village, commune)
        areas = [a["id"] for a in fleet.http.get("/api/v1/areas").json()]
        with flooding(stack, thief, areas) as flood_run:
            time.sleep(4.0)  # births, clock requests and events pour in
            before_the_broadcast = time.time()
            start_ms = int(time.time() * 1000) + 3000
            schedule(fleet, area_id=victim_village, level="normal", start_ms=start_ms, duration_ms=1000,
                     source={"type": "tone", "frequency_hz": 620})
            card = config_file.load(victim).data_dir / "card"
            onset = wait_for(lambda: tone_onset(card, 620), 15.0, what="the broadcast to the other board")
    finally:
        monitor.close()
    flood_s = flood_run["ended_s"] - flood_run["started_s"]
    assert flood_run["sent"] > 0.5 * flood_s * PER_SECOND * 3, flood_run
    states = [t.split("/")[3] for t in monitor.between(flood_run["started_s"], before_the_broadcast)
              if t.endswith("/desired")]
    own_chain = {thief_village, commune, "tinh-thu"}
    assert not [a for a in states if a not in own_chain], f"others' states published again: {states}"
    assert states.count(commune) <= flood_s / AREA_GAP_S + 1, f"its own chain's, too often: {states}"
    assert abs(onset - start_ms / 1000) < 0.25, f"the broadcast began {onset - start_ms / 1000:+.3f} s off"
    replies = [t for t in monitor.between(flood_run["started_s"], flood_run["ended_s"]) if "/clock/" in t]
    assert len(replies) >= flood_s / 4, f"the other board's clock exchange: {len(replies)} replies"
    told = wait_for(lambda: flood_told(fleet, thief_id), 10.0, what="the flood told to the operator")
    assert len(told) == 1 and "status" in told[0]["detail"]["shed"], told
    shed = fleet.http.get("/api/v1/system/status").json()["inbox"]["shed"]
    assert {"status", "event", "clock"} <= shed.keys(), shed
