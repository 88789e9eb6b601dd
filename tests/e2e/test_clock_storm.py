"""A clock storm drains by itself: while the controller does not answer, agents ask for the time less
and less instead of twice a second forever; once it answers again they all settle and its inbox
empties."""

from __future__ import annotations

import json
import signal
import threading
import time
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from loalang_protocol import topics
from loalang_stack import broker
from loalang_stack.services import ControllerProcess
from receiver_agent.agent import REBIRTH_WINDOW_S
from tests.testkit import Fleet, Stack, controller_password, learned_offset_ms, new_commune, wait_for

pytestmark = pytest.mark.e2e

AGENTS = 4
SILENT_S = 14.0  # under the controller's broker keepalive (15 s, so 22 s before the broker drops it)


class ClockRequests:
    """Counts the agents' clock requests as the broker delivers them, and notes when a controller says
    it is online (a subscriber of its own)."""

    def __init__(self, stack: Stack, device_id: str = "+") -> None:
        self.count = 0
        self.asked_at: list[float] = []  # monotonic time of each request
        self.online_at: list[float] = []  # monotonic time of each live (not retained) online state
        self._lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-clock-{time.time_ns()}",
                                  protocol=MQTTProtocolVersion.MQTTv311)
        self.client.username_pw_set(broker.CONTROLLER_USERNAME, controller_password(stack))
        self.client.on_message = self._count
        self.client.connect("127.0.0.1", stack.mqtt_port)
        self.client.subscribe([(f"loa/v1/dev/{device_id}/clock/req", 0), (topics.ALL_CONTROLLER_STATES, 1)])
        self.client.loop_start()

    def _count(self, client: Any, userdata: Any, message: Any) -> None:
        with self._lock:
            if not message.topic.endswith("/clock/req"):
                if not message.retain and json.loads(message.payload).get("online"):
                    self.online_at.append(time.monotonic())
                return
            self.count += 1
            self.asked_at.append(time.monotonic())


    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_agents_ask_less_while_unanswered_and_settle_when_answered(
        fleet: Fleet, stack: Stack, controller: ControllerProcess) -> None:
    _, (village,) = new_commune(fleet, villages=1)
    configs = [fleet.enrolled_agent(area=village)[1] for _ in range(AGENTS)]
    requests = ClockRequests(stack)
    assert controller.server is not None
    controller.server.signal(signal.SIGSTOP)
    try:
        for config in configs:
            fleet.start(config)
        time.sleep(SILENT_S)
        asked = requests.count
    finally:
        controller.server.signal(signal.SIGCONT)
        requests.close()
    per_agent = asked / AGENTS
    assert 1 <= per_agent <= 8, f"{per_agent:.1f} requests per agent in {SILENT_S:.0f} s (at 2 a second: 28)"
    for config in configs:
        wait_for(lambda c=config: learned_offset_ms(c) is not None, 60.0, what="the agent's clock settled")
    inbox = lambda: fleet.http.get("/api/v1/system/status").json()["inbox"]  # noqa: E731
    wait_for(lambda: inbox()["waiting"] == 0, 30.0, what="the controller's inbox drained")


def test_an_agent_that_came_up_while_the_controller_was_away_asks_the_time_as_soon_as_it_is_back(
        fleet: Fleet, stack: Stack, controller: ControllerProcess) -> None:
    """Unanswered, the agent waits longer and longer between requests (a minute at most); a controller
    coming back online answers that wait at once, else a receiver that booted during an outage could
    miss the first bulletin after it for want of the time."""
    _, (village,) = new_commune(fleet, villages=1)
    device_id, config = fleet.enrolled_agent(area=village)
    requests = ClockRequests(stack, device_id)
    controller.stop()
    try:
        fleet.start(config)
        # after its seventh unanswered request the agent waits 16 to 32 s
        wait_for(lambda: requests.count >= 7, 60.0, interval=0.05, what="seven unanswered clock requests")
    finally:
        controller.start()  # the session's controller: the next tests need it whatever happened here
        fleet.login()
    try:
        wait_for(lambda: requests.online_at, 10.0, what="the controller's online state")
        back = requests.online_at[0]
        wait_for(lambda: requests.asked_at[-1] > back, REBIRTH_WINDOW_S + 2.0, interval=0.05,
                 what="a clock request within the birth's pause of the controller's return")
    finally:
        requests.close()
    wait_for(lambda: learned_offset_ms(config) is not None, 5.0, what="the agent's clock settled")
