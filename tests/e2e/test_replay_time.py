"""Replay protection that holds over time: an epoch far ahead cannot block a topic, and an old
message replayed to a board that does not know the time yet cannot make it speak."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loalang_protocol import envelope, topics
from loalang_protocol.envelope import Counter
from loalang_protocol.keys import PURPOSE_CONTROL, KeyPair, issue_certificate
from loalang_protocol.messages import Command, DesiredState
from loalang_protocol.topics import AreaTopic, DeviceTopic
from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from receiver_agent import health
from tests.testkit import (
    Fleet,
    Stack,
    mqtt_publish,
    new_commune,
    own_fleet,
    own_stack,
    ping,
    receipts,
    security_events,
    tone_onset,
    wait_for,
)

pytestmark = pytest.mark.e2e

DAY_MS = 24 * 3600 * 1000
YEAR_MS = 365 * DAY_MS
REDIS_DB = 11  # the own controller's Redis database
CLOCK_WRONG = {"LOALANG_SIMULATED_CLOCK_ERROR_S": str(-3 * 3600)}  # and no NTP: the exchange gives the time


def _now_ms() -> int:
    return int(time.time() * 1000)


def _reasons(fleet: Fleet, device_id: str) -> list[str]:
    return [e["data"]["reason"] for e in security_events(fleet, device_id)]


def _time_known(fleet: Fleet, device_id: str, since_ms: int = 0) -> bool:
    """Whether the device's telemetry, sent after since_ms, says its time is known."""
    telemetry = fleet.device(device_id)["telemetry"] or {}
    return bool(telemetry.get("time_known")) and int(telemetry.get("ts", 0)) > since_ms


def _sign(controller: ControllerProcess, topic: str, body: dict[str, Any], counter: Counter,
          issued_ms: int, ttl_s: float = 3600) -> bytes:
    """A message signed with the controller's own key, as a stolen key would give, or as the
    controller signed it at issued_ms (with the certificate its key had then: certified a day
    before, for 90 days)."""
    keys = controller.data_dir / "keys"
    signing = KeyPair.load(keys / "signing.key")
    certificate = issue_certificate(KeyPair.load(keys / "root.key"), signing.public_bytes, PURPOSE_CONTROL,
                                    90 * 24 * 3600, now=(issued_ms - DAY_MS) / 1000)
    return envelope.seal(topic, body, signing, counter, ttl_s, certificate, issued_ms=issued_ms)


def _device_state(device_id: str, version: int) -> dict[str, Any]:
    return DesiredState(scope="device", target=device_id, version=version).model_dump()


def _emergency_state(area_id: str, version: int, occurrence: str, frequency_hz: float, start_ms: int
                     ) -> dict[str, Any]:
    tone = {"id": occurrence, "level": "emergency", "start_ms": start_ms, "duration_ms": 2000,
            "issued_ms": start_ms, "source": {"type": "tone", "frequency_hz": frequency_hz}}
    return DesiredState(scope="area", target=area_id, version=version, occurrences=[tone]).model_dump()


def _applied(fleet: Fleet, device_id: str, volume: int) -> int:
    """Change the device's volume through the API and wait until the agent applied that version."""
    response = fleet.http.patch(f"/api/v1/devices/{device_id}/settings", json={"volume": volume})
    response.raise_for_status()
    version = int(response.json()["desired_version"])
    wait_for(lambda: fleet.device(device_id)["applied_version"] == version, 15.0,
             what=f"the controller's desired state v{version} applied")
    return version


def test_an_epoch_far_ahead_is_refused_and_the_controllers_next_state_applies(
        stack: Stack, fleet: Fleet, controller: ControllerProcess) -> None:
    device_id, config = fleet.enrolled_agent()
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id) and _time_known(fleet, device_id), 15.0,
             what="online, time known")
    topic = topics.device(device_id, DeviceTopic.DESIRED)
    held = int(fleet.device(device_id)["applied_version"])
    forged = _sign(controller, topic, _device_state(device_id, held), Counter(_now_ms() + 10 * YEAR_MS, 1),
                   _now_ms())
    mqtt_publish(stack, topic, forged)
    assert ping(fleet, device_id)["ok"] is True  # the forged message was delivered before this command
    _applied(fleet, device_id, 37)
    wait_for(lambda: "epoch_ahead" in _reasons(fleet, device_id), 10.0, what="the epoch_ahead security event")


@dataclass
class Board:
    """An agent of a commune of its own, whose time is known only from the controller's clock replies."""

    fleet: Fleet
    device_id: str
    config: Path
    commune: str
    village: str

    @property
    def card(self) -> Path:
        """Where the simulated sound card records."""
        return self.data_dir / "card"

    @property
    def data_dir(self) -> Path:
        """The agent's data folder (state, schedule, the simulated card's recording)."""
        return config_file.load(self.config).data_dir

    def restart_without_time(self) -> None:
        """Stop the controller (nobody answers clock requests) and restart the agent: it connects to
        the broker but does not know the time."""
        data_dir = self.data_dir
        boot = json.loads((data_dir / "state.json").read_text())["boot"]
        self.fleet.agents[-1].stop()
        self.fleet.controller.stop()
        self.fleet.start(self.config, env=CLOCK_WRONG)

        def connected_again() -> bool:
            facts = health.read(data_dir, 30.0) or {}
            return facts.get("boot") == boot + 1 and facts.get("connected") is True

        wait_for(connected_again, 20.0, what="the agent connected again, its time unknown")

    def controller_back(self) -> None:
        """Start the controller again: the clock exchange gives the agent the time."""
        since = _now_ms()
        self.fleet.controller.start()
        self.fleet.login()
        wait_for(lambda: _time_known(self.fleet, self.device_id, since), 30.0, what="the agent's time known")


@contextmanager
def board_with_known_time(stack: Stack, root: Path) -> Iterator[Board]:
    """A board that has verified the controller's messages (its clock replies) up to now."""
    redis_url = f"redis://127.0.0.1:{stack.redis_port}/{REDIS_DB}"
    with own_fleet(stack, root, LOALANG_INSTANCE_ID="ctl-replay-time", LOALANG_REDIS_URL=redis_url) as fleet:
        commune, [village] = new_commune(fleet, villages=1)
        device_id, config = fleet.enrolled_agent(area=village)
        fleet.start(config, env=CLOCK_WRONG)
        wait_for(lambda: fleet.online(device_id) and _time_known(fleet, device_id), 20.0,
                 what="online, time known from the clock exchange")
        yield Board(fleet, device_id, config, commune, village)


def _scheduled(board: Board, occurrence: str) -> bool:
    data = json.loads((board.data_dir / "schedule.json").read_text())
    return any(o["id"] == occurrence for source in data["sources"].values() for o in source["occurrences"])


def test_an_old_emergency_replayed_while_the_time_is_unknown_waits_and_a_fresh_one_plays(
        stack: Stack, tmp_path: Path) -> None:
    with own_stack(stack, tmp_path) as own, board_with_known_time(own, tmp_path) as board:
        controller = board.fleet.controller
        village_topic = topics.area(board.village, AreaTopic.DESIRED)
        board.restart_without_time()
        month_ago = _now_ms() - 25 * DAY_MS
        replayed = _sign(controller, village_topic,
                         _emergency_state(board.village, 900, "o-thang-truoc", 1000, month_ago),
                         Counter(_counter(stack).epoch, 1), month_ago, ttl_s=30 * 24 * 3600)
        mqtt_publish(own, village_topic, replayed)  # a compromised broker serves a month-old capture
        wait_for(lambda: _scheduled(board, "o-thang-truoc"), 10.0, what="the replayed state taken")
        fresh_start = _now_ms() + 3000
        commune_topic = topics.area(board.commune, AreaTopic.DESIRED)
        mqtt_publish(own, commune_topic, _sign(  # as the controller publishes it now
            controller, commune_topic, _emergency_state(board.commune, 900, "o-bao-moi", 1500, fresh_start),
            _counter(stack), _now_ms()))
        wait_for(lambda: tone_onset(board.card, 1500), 20.0, what="the fresh emergency played")
        assert tone_onset(board.card, 1000) is None, "the month-old emergency must not play"
        board.controller_back()
        fleet = board.fleet

        def missed_late() -> bool:
            return any(r["data"] == {"occurrence": "o-thang-truoc", "reason": "late", "position_ms": 0}
                       for r in receipts(fleet, board.device_id, "missed"))

        wait_for(missed_late, 20.0, what="the old emergency recorded as missed, late")
        # the receipts kept while the controller was away come back in batches of their own
        wait_for(lambda: any(r["data"]["occurrence"] == "o-bao-moi"
                             for r in receipts(fleet, board.device_id, "completed")), 20.0,
                 what="the fresh emergency's receipt")
        assert tone_onset(board.card, 1000) is None


def test_an_epoch_far_ahead_taken_while_the_time_was_unknown_is_forgotten_once_it_is_known(
        stack: Stack, tmp_path: Path) -> None:
    with own_stack(stack, tmp_path) as own, board_with_known_time(own, tmp_path) as board:
        fleet, device_id = board.fleet, board.device_id
        topic = topics.device(device_id, DeviceTopic.DESIRED)
        board.restart_without_time()
        forged = _sign(fleet.controller, topic, _device_state(device_id, 10**6),  # a version far ahead too
                       Counter(_now_ms() + 10 * YEAR_MS, 1), _now_ms())
        mqtt_publish(own, topic, forged)
        wait_for(lambda: _held_epoch(board, topic) > _now_ms() + YEAR_MS, 10.0,
                 what="the forged counter taken while the time is unknown")
        board.controller_back()
        _applied(fleet, device_id, 41)


def _held_epoch(board: Board, topic: str) -> int:
    """The epoch of the counter the board holds for topic (0 for none), from its state file."""
    held = json.loads((board.data_dir / "state.json").read_text())["replay"].get(topic)
    return int(held[0]) if held else 0


def _counter(stack: Stack) -> Counter:
    """The own controller's next replay counter, taken from its Redis as its signer does."""
    import redis as redis_client

    store = redis_client.Redis(port=stack.redis_port, db=REDIS_DB)
    epoch = store.get("loa:sig:epoch")
    assert epoch is not None, "the controller has signed before"
    return Counter(int(epoch), int(store.incr("loa:sig:seq")))  # type: ignore[arg-type]


def _tone_command(frequency_hz: float) -> dict[str, Any]:
    return Command(id=f"c-{time.time_ns()}", name="test-tone",
                   args={"frequency_hz": frequency_hz, "seconds": 1.0}).model_dump()


def test_an_old_command_replayed_while_the_time_is_unknown_is_refused_and_a_fresh_one_runs(
        stack: Stack, tmp_path: Path) -> None:
    with own_stack(stack, tmp_path) as own, board_with_known_time(own, tmp_path) as board:
        controller = board.fleet.controller
        topic = topics.area(board.village, AreaTopic.COMMAND)
        board.restart_without_time()
        month_ago = _now_ms() - 25 * DAY_MS
        old = _sign(controller, topic, _tone_command(1000), Counter(_counter(stack).epoch, 1), month_ago, 120)
        mqtt_publish(own, topic, old)  # a compromised broker serves a month-old capture
        fresh = _sign(controller, topic, _tone_command(1500), _counter(stack), _now_ms(), 120)
        mqtt_publish(own, topic, fresh)  # as the controller sends it now
        wait_for(lambda: tone_onset(board.card, 1500), 15.0, what="the fresh test tone played")
        assert tone_onset(board.card, 1000) is None, "the month-old command must not sound"
        board.controller_back()
        wait_for(lambda: "older_than_seen" in _reasons(board.fleet, board.device_id), 20.0,
                 what="the refusal reported as a security event")
