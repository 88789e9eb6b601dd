"""Under a flood of telemetry the controller sheds telemetry, counted, and never a receipt: an agent's
play is recorded while another device's account floods the broker. The flooding board is limited
alone: its excess is shed as it arrives, and the others' telemetry still comes through."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.testkit import Fleet, Stack, new_commune, receipts, schedule, wait_for

pytestmark = pytest.mark.e2e

FLOOD = 80_000
FLOOD_S = 6.0


def flood_telemetry(stack: Stack, username: str, password: str, device_id: str,
                    stop: threading.Event) -> int:
    """Publish telemetry as fast as the paced budget allows, as a broken board would; returns how many."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=username,
                         protocol=MQTTProtocolVersion.MQTTv311)
    client.username_pw_set(username, password)
    client.connect("127.0.0.1", stack.mqtt_port)
    client.loop_start()
    topic = f"loa/v1/dev/{device_id}/telemetry"
    sent, started = 0, time.monotonic()
    try:
        while sent < FLOOD and not stop.is_set():
            due = int(FLOOD * min(1.0, (time.monotonic() - started) / FLOOD_S))
            for _ in range(max(0, due - sent)):
                body = {"ts": int(time.time() * 1000), "uptime_s": float(sent), "agent_version": "flood"}
                client.publish(topic, json.dumps(body), qos=0)
                sent += 1
            time.sleep(0.01)
    finally:
        client.loop_stop()
        client.disconnect()
    return sent


def test_a_receipt_is_kept_while_telemetry_floods(fleet: Fleet, stack: Stack,
                                                  controller: ControllerProcess) -> None:
    _, (village,) = new_commune(fleet, villages=1)
    player_id, player = fleet.enrolled_agent(area=village)
    fleet.start(player)
    wait_for(lambda: fleet.online(player_id), 10.0, what="online")
    flooder_id, flooder = fleet.enrolled_agent(area=village)  # enrolled, its account used by the flood
    broker = config_file.load(flooder).broker
    before = fleet.http.get("/api/v1/system/status").json()["inbox"]["shed"].get("telemetry", 0)
    stop = threading.Event()
    result: dict[str, Any] = {}
    flood = threading.Thread(target=lambda: result.update(sent=flood_telemetry(
        stack, broker.username, broker.password, flooder_id, stop)))
    flood_started_ms = int(time.time() * 1000)
    flood.start()
    try:
        wait_for(lambda: (fleet.device(flooder_id)["telemetry"] or {}).get("agent_version") == "flood", 10.0,
                 what="the flood reaching the controller")
        tone = schedule(fleet, area_id=village, level="normal", start_ms=int(time.time() * 1000) + 3000,
                        duration_ms=1000, source={"type": "tone", "frequency_hz": 500})
        played = lambda: [r for r in receipts(fleet, player_id, "completed")  # noqa: E731
                          if r["data"].get("occurrence") == tone]
        # The claim is that the receipt is kept, not how soon: the controller reads every message the
        # broker holds for it before the ones behind, and on a loaded machine it reads the flood at
        # about 800 a second, so the receipt may come only once the flood (80,000) has drained.
        flood.join(120)
        wait_for(played, 90.0, what="the receipt of the play, kept through the flood")
    finally:
        stop.set()
        flood.join(30)
    inbox = fleet.http.get("/api/v1/system/status").json()["inbox"]
    shed = inbox["shed"].get("telemetry", 0) - before
    assert result["sent"] > 10_000 and shed > result["sent"] // 2, (result, shed, "the flood was shed")
    assert inbox["flooding"].get(flooder_id, 0) > result["sent"] // 2, "the flooding board is named"
    assert player_id not in inbox["flooding"], "limited alone: the others are not"
    wait_for(lambda: fleet.device(player_id)["telemetry"]["ts"] > flood_started_ms, 10.0,
             what="the player's own telemetry, kept through the flood")
