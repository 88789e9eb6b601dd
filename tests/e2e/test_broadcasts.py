"""Broadcast now: every agent of a commune starts at the same instant, delivery is followed live
(an offline device is reported offline), emergencies are confirmed again, stop-all silences."""

from __future__ import annotations

import json
import secrets
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from loalang_stack import broker
from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.testkit import (
    ADMIN_PASSWORD,
    Fleet,
    Stack,
    dominant_frequencies,
    new_commune,
    receipts,
    tone_onset,
    upload_media,
    wait_for,
    write_steps_wav,
)

pytestmark = pytest.mark.e2e

API = "/api/v1"
RANK = {"offline": 0, "pending": 1, "acknowledged": 2, "downloading": 3, "playing": 4, "completed": 5,
        "failed": 5, "missed": 5, "preempted": 5, "stopped": 5}


def follow(controller: ControllerProcess, token: str, broadcast_id: str,
           events: list[dict[str, Any]], last_event_id: str | None = None) -> None:
    """Read the delivery event stream until it ends (in a thread); each event keeps its id as `_id`."""
    headers = {"Authorization": f"Bearer {token}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    with httpx.Client(base_url=controller.url, timeout=httpx.Timeout(90, read=90)) as client, client.stream(
            "GET", f"{API}/broadcasts/{broadcast_id}/events", headers=headers) as response:
        event_id = ""
        for line in response.iter_lines():
            if line.startswith("event: end"):
                return
            if line.startswith("id: "):
                event_id = line[4:]
            if line.startswith("data: "):
                events.append({**json.loads(line[6:]), "_id": event_id})


@pytest.mark.sounds
def test_a_commune_hears_one_instant_and_delivery_is_followed_to_the_end(
        fleet: Fleet, controller: ControllerProcess, tmp_path: Path) -> None:
    commune_id, villages = new_commune(fleet)
    agents = [fleet.enrolled_agent(area=villages[i % 2]) for i in range(3)]
    for _, config in agents:
        fleet.start(config)
    offline_id, _ = fleet.enrolled_agent(area=villages[1])  # enrolled, never started
    for device_id, _ in agents:
        wait_for(lambda d=device_id: fleet.online(d), 10.0, what="online")
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "tin.wav", [440.0] * 2))

    # the offline cluster could still play it within its lateness: the report waits for that
    created = fleet.http.post(f"{API}/broadcasts", json={"level": "normal", "media_sha256": sha,
                                                         "title": "Thông báo khẩn", "area_ids": [commune_id],
                                                         "max_lateness_ms": 5000})
    assert created.status_code == 201, created.text
    broadcast = created.json()
    assert broadcast["status"] == "on_air" and broadcast["start_ms"] > time.time() * 1000
    events: list[dict[str, Any]] = []
    token = fleet.http.headers["Authorization"].split()[1]
    reader = threading.Thread(target=follow, args=(controller, token, broadcast["id"], events), daemon=True)
    reader.start()

    start_s = broadcast["start_ms"] / 1000
    for device_id, config in agents:
        wait_for(lambda d=device_id: receipts(fleet, d, "completed"), 20.0, what=f"{device_id} completed")
        onset = tone_onset(config_file.load(config).data_dir / "card", 440)
        assert onset is not None and abs(onset - start_s) < 0.3, f"{device_id}: {onset} vs {start_s}"
    reader.join(30)
    assert not reader.is_alive(), "the stream ends when every device is done"

    by_device: dict[str, list[str]] = {}
    for event in events:
        by_device.setdefault(event["device"], []).append(event["state"])
    assert set(by_device) == {d for d, _ in agents} | {offline_id}
    assert by_device[offline_id] == ["offline"], "reported offline, not silently missing"
    for device_id, _ in agents:
        states = by_device[device_id]
        assert [RANK[s] for s in states] == sorted(RANK[s] for s in states), states
        assert "playing" in states and states[-1] == "completed", states

    assert fleet.http.get(f"{API}/broadcasts/{broadcast['id']}").json()["status"] == "on_air", \
        "not over while the offline cluster may still play it"
    report = wait_for(lambda: fleet.http.get(f"{API}/broadcasts/{broadcast['id']}").json()["report"], 30.0,
                      what="the final report")
    assert report["by_state"] == {"completed": 3, "offline": 1}

    resumed: list[dict[str, Any]] = []
    follow(controller, token, broadcast["id"], resumed, last_event_id=events[4]["_id"])
    assert resumed == events[5:], "a follower that reconnects misses nothing and sees nothing twice"
    bogus = fleet.http.get(f"{API}/broadcasts/{broadcast['id']}/events", headers={"Last-Event-ID": "x; DROP"})
    assert bogus.status_code == 400
    assert fleet.http.get(f"{API}/broadcasts/{broadcast['id']}").json()["status"] == "done"


def test_an_emergency_is_confirmed_by_password_or_by_a_second_approver(
        fleet: Fleet, controller: ControllerProcess, tmp_path: Path) -> None:
    commune_id, villages = new_commune(fleet, villages=1)
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "bao.wav", [1000.0]))
    alarm = {"level": "emergency", "media_sha256": sha, "area_ids": [commune_id]}
    assert fleet.http.post(f"{API}/broadcasts", json=alarm).status_code == 403, "no password"
    wrong = fleet.http.post(f"{API}/broadcasts", json={**alarm, "confirm_password": "doan-bua"})
    assert wrong.status_code == 403 and "password" in wrong.text
    confirmed = fleet.http.post(f"{API}/broadcasts", json={**alarm, "confirm_password": ADMIN_PASSWORD})
    assert confirmed.status_code == 201 and confirmed.json()["status"] == "on_air"

    fleet.http.patch(f"{API}/areas/{villages[0]}", json={"emergency_confirm": "second_approver"})
    waiting = fleet.http.post(f"{API}/broadcasts", json={**alarm, "area_ids": [villages[0]]}).json()
    assert waiting["status"] == "awaiting_confirmation" and waiting["start_ms"] is None
    assert fleet.http.post(f"{API}/broadcasts/{waiting['id']}/confirm").status_code == 403, "not its author"
    username = f"duyet.{secrets.token_hex(3)}"
    fleet.http.post(f"{API}/users", json={"username": username, "password": "mat-khau-dai-du",
                                          "role": "approver", "area_id": commune_id}).raise_for_status()
    token = httpx.post(f"{controller.url}{API}/auth/token",
                       data={"username": username, "password": "mat-khau-dai-du"}).json()["access_token"]
    approver = httpx.Client(base_url=controller.url, headers={"Authorization": f"Bearer {token}"})
    done = approver.post(f"{API}/broadcasts/{waiting['id']}/confirm")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "on_air" and done.json()["confirmed_by"] == username
    actions = [e["action"] for e in fleet.http.get(f"{API}/audit", params={"limit": 30}).json()]
    assert "broadcast.confirm" in actions and "broadcast.create" in actions


@pytest.mark.sounds
def test_stop_all_silences_every_agent_in_scope_within_seconds(fleet: Fleet, tmp_path: Path) -> None:
    commune_id, villages = new_commune(fleet)
    agents = [fleet.enrolled_agent(area=village) for village in villages]
    for _, config in agents:
        fleet.start(config)
    for device_id, _ in agents:
        wait_for(lambda d=device_id: fleet.online(d), 10.0, what="online")
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "dai.wav", [300.0] * 30))
    broadcast = fleet.http.post(f"{API}/broadcasts", json={"level": "normal", "media_sha256": sha,
                                                           "area_ids": [commune_id]}).json()
    for device_id, _ in agents:
        wait_for(lambda d=device_id: receipts(fleet, d, "started"), 20.0, what="playing")
    for device_id, config in agents:
        card = config_file.load(config).data_dir / "card"
        wait_for(lambda c=card: dominant_frequencies(c), 10.0, what=f"{device_id} heard")
    stop_at = time.time()
    stopped = fleet.http.post(f"{API}/broadcasts/stop-all", json={"area_id": commune_id})
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["broadcasts_withdrawn"] == [broadcast["id"]]
    for device_id, _ in agents:
        wait_for(lambda d=device_id: receipts(fleet, d, "stopped"), 10.0, what=f"{device_id} stopped")
    time.sleep(3)  # the cards record on: a sound 2 s after the stop would be on them now
    for device_id, config in agents:
        heard = [wall for wall, _ in dominant_frequencies(config_file.load(config).data_dir / "card")]
        assert heard and min(heard) < stop_at, "it was playing"
        late = max(heard) - stop_at
        assert late < 2.0, f"{device_id} still sounded {late:.1f} s after the stop"
    assert fleet.http.get(f"{API}/broadcasts/{broadcast['id']}").json()["status"] == "stopped"


def test_stop_all_while_the_broker_is_away_is_recorded_and_reaches_the_agents_when_it_is_back(
        fleet: Fleet, stack: Stack, tmp_path: Path) -> None:
    commune_id, villages = new_commune(fleet)
    device_id, config = fleet.enrolled_agent(area=villages[0])
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 10.0, what="online")
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "dai.wav", [330.0] * 40))
    broadcast = fleet.http.post(f"{API}/broadcasts", json={"level": "normal", "media_sha256": sha,
                                                           "area_ids": [commune_id]}).json()
    wait_for(lambda: receipts(fleet, device_id, "started"), 20.0, what="playing")

    stack.broker.signal(signal.SIGKILL)
    assert stack.broker.process is not None
    stack.broker.process.wait(10)
    try:
        wait_for(lambda: not fleet.http.get("/healthz").json().get("broker", True), 10.0,
                 what="the controller seeing the broker gone")
        stopped = fleet.http.post(f"{API}/broadcasts/stop-all", json={"area_id": commune_id})
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["broadcasts_withdrawn"] == [broadcast["id"]]
        assert stopped.json()["broker_reached"] is False, "the operator is told it has not reached them yet"
        assert fleet.http.get(f"{API}/broadcasts/{broadcast['id']}").json()["status"] == "stopped"
    finally:
        stack.broker, _ = broker.start(stack.broker_config)
    back_at = time.time()
    wait_for(lambda: receipts(fleet, device_id, "stopped"), 30.0,
             what="the agent stopped once the broker is back")
    time.sleep(2)  # the card records on: a sound after the stop would be on it now
    heard = [wall for wall, _ in dominant_frequencies(config_file.load(config).data_dir / "card")]
    late = max(heard) - back_at
    print(f"the agent fell silent {late:.1f} s after the broker came back")
    assert late < 20.0, "silenced by the withdrawal as soon as it is back on the broker"
