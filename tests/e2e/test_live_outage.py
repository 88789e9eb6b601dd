"""Live audio rides out a broker outage: the session keeps its source and its encoder, and every
receiver plays the stream again, in step, once the broker is back, with nobody doing anything;
the microphone's socket says what happened, and the report says how it ended on every receiver.

The broker is killed (SIGKILL: no last will, nothing saved) during a live broadcast and started
again five seconds later. The agents reconnect within a 1 s window here (a fleet's 5 s window
spreads a province's reconnections and would only add its own random wait to the gap).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from loalang_stack import broker
from loalang_stack.icecast import Icecast
from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from receiver_agent.audio.simulated import read_recording
from tests.testkit import (
    ADMIN_PASSWORD,
    API,
    IN_STEP_MS,
    Fleet,
    Stack,
    lag_ms,
    loud_after,
    new_commune,
    playing_station,
    start_relay,
    wait_for,
    wait_for_settled_clocks,
    wait_recorded,
    wall_clock_audio,
)

pytestmark = [pytest.mark.e2e, pytest.mark.sounds]

OUTAGE_S = 5.0
BACK_WITHIN_S = 20.0  # from the broker's return to the station on every card
STATION_S = 180


@pytest.fixture
def long_station(tmp_path: Path) -> Iterator[Icecast]:
    """The chirp station of conftest, for three minutes: the relay must outlast the outage."""
    with playing_station(tmp_path, seconds=STATION_S) as server:
        yield server


def reconnect_quickly(config: Path) -> None:
    """Let the agent try the broker again within a second, and every few seconds at most."""
    settings = config_file.load(config)
    config_file.save(settings.model_copy(update={"broker": settings.broker.model_copy(
        update={"reconnect_window_s": 1.0, "reconnect_cap_s": 4.0})}), config)


def last_loud_before(card: Path, before: float) -> float | None:
    """When the card last played something loud before the wall time given (None: never)."""
    pcm, times = read_recording(card)
    pcm = pcm[: len(pcm) - len(pcm) % 960]
    samples = np.frombuffer(pcm, dtype="<i2").astype(float).reshape(-1, 480)
    loud = [wall for index, wall in times
            if wall < before and index < len(samples) and np.sqrt(np.mean(samples[index] ** 2)) > 300]
    return loud[-1] if loud else None


def kill_broker_for(stack: Stack, seconds: float) -> float:
    """SIGKILL the broker, start it again after seconds; returns when it was back."""
    stack.broker.signal(signal.SIGKILL)
    assert stack.broker.process is not None
    stack.broker.process.wait(10)
    try:
        time.sleep(seconds)
    finally:
        stack.broker, _ = broker.start(stack.broker_config)
    return time.time()


def started_agents(fleet: Fleet, count: int) -> tuple[list[str], list[Path]]:
    """Agents in a village of their own, online, their clocks settled: the village and their cards."""
    _, villages = new_commune(fleet, villages=1)
    agents = [fleet.enrolled_agent(area=villages[0]) for _ in range(count)]
    for _, config in agents:
        reconnect_quickly(config)
        fleet.start(config)
    for device_id, _ in agents:
        wait_for(lambda d=device_id: fleet.online(d), 10.0, what=f"{device_id} online")
    wait_for_settled_clocks([config for _, config in agents])
    return villages, [config_file.load(config).data_dir / "card" for _, config in agents]


def heard_again(cards: list[Path], killed: float, back: float) -> list[float]:
    """When each card played the stream again after the broker came back (printed with the gap)."""
    resumed = [wait_for(lambda c=card: loud_after(c, back), BACK_WITHIN_S + 15, interval=0.5,
                        what="the stream on the card again after the outage") for card in cards]
    for card, at in zip(cards, resumed, strict=True):
        silent_from = last_loud_before(card, at) or killed
        print(f"{card.parent.name}: audio back {at - back:.1f} s after the broker, "
              f"{at - silent_from:.1f} s of silence in all")
    assert max(resumed) - back < BACK_WITHIN_S, [round(at - back, 1) for at in resumed]
    return resumed


def final_report(fleet: Fleet, broadcast_id: str) -> dict[str, int]:
    """The report's counts by state, once it is written."""
    report = wait_for(lambda: fleet.http.get(f"{API}/broadcasts/{broadcast_id}").json()["report"], 45.0,
                      what="the final report")
    by_state: dict[str, int] = report["by_state"]
    return by_state


def test_a_relay_plays_again_on_every_receiver_after_the_broker_is_back(
        stack: Stack, fleet: Fleet, long_station: Icecast) -> None:
    villages, cards = started_agents(fleet, 3)
    broadcast = start_relay(fleet, long_station, villages)
    for card in cards:
        wait_for(lambda c=card: loud_after(c, 0), 30.0, what="the station on the card")
    time.sleep(2)  # the session runs steadily a while before the outage

    killed = time.time()
    back = kill_broker_for(stack, OUTAGE_S)
    resumed = heard_again(cards, killed, back)
    response = fleet.http.get(f"{API}/broadcasts/{broadcast['id']}").json()
    assert response["status"] == "on_air", "the session lived through the outage"

    compared_from = max(resumed) + 2.0
    wait_recorded(cards, compared_from + 1.5)  # a one-second window from then, and the periods after it
    recordings = [wall_clock_audio(card) for card in cards]
    skews = [abs(lag_ms(recordings[0], other, compared_from)) for other in recordings[1:]]
    print("skew to the first card after the outage: " + ", ".join(f"{s:.3f} ms" for s in skews))
    assert max(skews) < IN_STEP_MS, "the same sample at the same instant on every card again"

    fleet.http.post(f"{API}/broadcasts/{broadcast['id']}/stop").raise_for_status()
    assert final_report(fleet, broadcast["id"]) == {"completed": 3}, "no receiver is left playing"


def talk(socket: ClientConnection, stop: threading.Event) -> None:
    """Send a 523 Hz tone as 20 ms blocks in real time until told to stop or the socket closes."""
    block = (np.sin(2 * np.pi * 523 * np.arange(960) / 48_000) * 12_000).astype("<i2").tobytes()
    due = time.monotonic()
    while not stop.is_set():
        try:
            socket.send(block)
        except ConnectionClosed:
            return
        due += 0.02
        time.sleep(max(0.0, due - time.monotonic()))


def next_state(socket: ClientConnection, timeout: float) -> dict[str, object]:
    message: dict[str, object] = json.loads(socket.recv(timeout=timeout))
    return message


def test_a_microphone_stays_on_the_air_through_an_outage_and_hears_how_it_ended(
        stack: Stack, fleet: Fleet, controller: ControllerProcess) -> None:
    villages, cards = started_agents(fleet, 2)
    created = fleet.http.post(f"{API}/broadcasts", json={
        "level": "live", "live": {"kind": "microphone"}, "area_ids": villages,
        "confirm_password": ADMIN_PASSWORD})
    assert created.status_code == 201, created.text
    broadcast = created.json()
    token = fleet.http.headers["Authorization"].split()[1]
    url = controller.url.replace("http://", "ws://") + f"{API}/broadcasts/{broadcast['id']}/microphone"
    stop = threading.Event()
    with ws_connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as socket:
        talker = threading.Thread(target=talk, args=(socket, stop), daemon=True)
        talker.start()
        try:
            assert next_state(socket, 10)["state"] == "on_air"
            for card in cards:
                wait_for(lambda c=card: loud_after(c, 0), 20.0, what="the voice on the card")
            killed = time.time()
            back = kill_broker_for(stack, OUTAGE_S)
            assert next_state(socket, 1) == {"state": "interrupted", "reason": "broker_unreachable"}
            assert next_state(socket, BACK_WITHIN_S)["state"] == "on_air", "on the air again"
            heard_again(cards, killed, back)

            fleet.http.post(f"{API}/broadcasts/{broadcast['id']}/stop").raise_for_status()
            assert next_state(socket, 5) == {"state": "ended", "reason": "stopped"}
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
        finally:
            stop.set()
            talker.join(5)
    assert final_report(fleet, broadcast["id"]) == {"completed": 2}, "no receiver is left playing"
