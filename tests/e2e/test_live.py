"""Live broadcasting: a relayed Icecast station heard in step on the targeted agents, and only there.

The station plays a one-second chirp (300 to 1100 Hz) over and over: its cross-correlation has one
sharp peak, so the time between two cards playing the same sample is measured to a sample.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from loalang_protocol import chunks, topics
from loalang_protocol.chunks import AudioChunk
from loalang_protocol.keys import KeyPair
from loalang_protocol.topics import StreamTopic
from loalang_stack.icecast import Icecast
from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.testkit import (
    ADMIN_PASSWORD,
    API,
    IN_STEP_MS,
    BrokerGate,
    Fleet,
    HttpSite,
    Stack,
    TopicWatch,
    dominant_frequencies,
    loud_after,
    mqtt_publish,
    new_commune,
    own_fleet,
    playing_skew_ms,
    receipts,
    relay_schedule,
    route_through,
    schedule,
    security_events,
    start_relay,
    wait_for,
    wait_for_settled_clocks,
    wait_recorded,
    wall_clock_audio,
)

pytestmark = pytest.mark.e2e

REPLAYED = 50  # chunks published again: one second of audio


def stream_bytes(fleet: Fleet, device_id: str) -> int:
    telemetry = fleet.device(device_id).get("telemetry") or {}
    return int(telemetry.get("stream_bytes", -1))


def test_a_relayed_station_plays_in_step_on_the_targeted_agents_only(fleet: Fleet, station: Icecast) -> None:
    _, villages = new_commune(fleet)
    targeted = [fleet.enrolled_agent(area=villages[0]) for _ in range(2)]
    bystander = fleet.enrolled_agent(area=villages[1])
    for _, config in [*targeted, bystander]:
        fleet.start(config)
    for device_id, _ in [*targeted, bystander]:
        wait_for(lambda d=device_id: fleet.online(d), 10.0, what=f"{device_id} online")
    wait_for_settled_clocks([config for _, config in targeted])

    created = fleet.http.post(f"{API}/broadcasts", json={
        "level": "live", "live": {"kind": "relay", "url": station.listen_url("station.mp3")},
        "area_ids": [villages[0]], "title": "Tiếp sóng", "confirm_password": ADMIN_PASSWORD})
    assert created.status_code == 201, created.text
    broadcast = created.json()
    assert broadcast["live_kind"] == "relay" and broadcast["status"] == "on_air"

    cards = [config_file.load(config).data_dir / "card" for _, config in targeted]
    for card in cards:
        wait_for(lambda c=card: loud_after(c, 0), 30.0, what="the station on the card")
    compared_from = max(wall_clock_audio(card)[0] for card in cards) + 1.0  # as playing_skew_ms compares
    wait_recorded(cards, compared_from + 1.5)
    skew_ms = playing_skew_ms(cards)
    print(f"skew between the two cards: {skew_ms:.3f} ms")
    assert skew_ms < IN_STEP_MS, f"the same sample at the same instant on both cards: {skew_ms:.2f} ms apart"
    for device_id, _ in targeted:
        assert receipts(fleet, device_id, "started"), "a receipt says the stream was aired"

    stopped = fleet.http.post(f"{API}/broadcasts/{broadcast['id']}/stop")
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    time.sleep(4)  # the cards record on: the last 1.5 s of it must be silent
    for card in cards:
        assert loud_after(card, time.time() - 1.5) is None, "silent after the stop"
    wait_for(lambda: stream_bytes(fleet, targeted[0][0]) > 10_000, 10.0, what="telemetry of stream bytes")
    assert stream_bytes(fleet, bystander[0]) == 0, "an agent not addressed receives no stream bytes"
    assert loud_after(config_file.load(bystander[1]).data_dir / "card", 0) is None


def test_an_agent_cut_off_for_three_seconds_rejoins_the_live_session_by_itself(
        fleet: Fleet, stack: Stack, station: Icecast) -> None:
    gate = BrokerGate(stack.mqtt_port)
    gate.open()
    try:
        _, villages = new_commune(fleet, villages=1)
        device_id, config = fleet.enrolled_agent(area=villages[0])
        route_through(config, gate)
        fleet.start(config)
        wait_for(lambda: fleet.online(device_id), 10.0, what="online through the gate")
        broadcast = start_relay(fleet, station, villages)
        card = config_file.load(config).data_dir / "card"
        wait_for(lambda: loud_after(card, 0), 30.0, what="the station on the card")
        gate.shut()
        time.sleep(3)
        gate.open()
        back = time.time()
        wait_for(lambda: loud_after(card, back + 2.5), 45.0, what="the station again after the cut")
        wait_for(lambda: fleet.online(device_id), 10.0, what="online again")
        # a stream that went silent for more than 2 s is taken up again (a `resumed` receipt); a
        # shorter silence is bridged by the chunks still held, and the player simply goes on
        fleet.http.post(f"{API}/broadcasts/{broadcast['id']}/stop").raise_for_status()
    finally:
        gate.shut()


def test_an_emergency_live_stream_cuts_into_a_bulletin_which_resumes_after(
        fleet: Fleet, station: Icecast) -> None:
    _, villages = new_commune(fleet, villages=1)
    device_id, config = fleet.enrolled_agent(area=villages[0])
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 10.0, what="online")
    start = int(time.time() * 1000) + 3000
    bulletin = schedule(fleet, area_id=villages[0], level="normal", start_ms=start, duration_ms=20_000,
                        source={"type": "tone", "frequency_hz": 440})
    wait_for(lambda: time.time() * 1000 > start + 3000, 15.0, what="3 s into the bulletin")
    warning = start_relay(fleet, station, villages, level="emergency")
    def stream_started() -> bool:
        return any(r["data"].get("audio") == "stream" for r in receipts(fleet, device_id, "started"))

    wait_for(stream_started, 20.0, what="the emergency stream on the air")
    time.sleep(3)  # the stream airs a while before it ends and the bulletin resumes
    fleet.http.post(f"{API}/broadcasts/{warning['id']}/stop").raise_for_status()
    def bulletin_completed() -> bool:
        return any(r["data"]["occurrence"] == bulletin for r in receipts(fleet, device_id, "completed"))

    wait_for(bulletin_completed, 40.0, what="the bulletin completed after resuming")
    card = config_file.load(config).data_dir / "card"
    heard = [round(f / 20) * 20 for _, f in dominant_frequencies(card)]
    first_cut = heard.index(next(f for f in heard if f != 440))
    assert heard[:first_cut] and set(heard[:first_cut]) == {440}, "the bulletin plays first"
    assert 440 in heard[first_cut:], "and resumes after the emergency"
    assert any(f != 440 for f in heard[first_cut:first_cut + 20]), "the station cut in"
    cuts = receipts(fleet, device_id, "interrupted")
    assert any(r["data"]["occurrence"] == bulletin for r in cuts), "the cut is recorded"


def _stream_rejected(fleet: Fleet, device_id: str) -> int:
    return int((fleet.device(device_id).get("telemetry") or {}).get("stream_rejected", 0))


def test_forged_and_malformed_chunks_are_dropped_and_counted(fleet: Fleet, stack: Stack,
                                                             station: Icecast) -> None:
    _, villages = new_commune(fleet, villages=1)
    device_id, config = fleet.enrolled_agent(area=villages[0])
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 10.0, what="online")
    broadcast = start_relay(fleet, station, villages)
    card = config_file.load(config).data_dir / "card"
    wait_for(lambda: loud_after(card, 0), 30.0, what="the station on the card")
    topic = topics.stream(broadcast["id"], StreamTopic.CHUNK)
    forged = chunks.encode(AudioChunk(seq=10**6, pts_us=int(time.time() * 1e6), duration_us=20_000,
                                      frames=(b"\xf8\xff\xfe",)), topic, KeyPair.generate())
    for payload in (forged, b"\x00" * 40, b"LA" + b"\xff" * 300):
        mqtt_publish(stack, topic, payload)
    wait_for(lambda: _stream_rejected(fleet, device_id) >= 3, 15.0, what="the rejected chunks counted")
    reasons = {e["data"]["reason"] for e in security_events(fleet, device_id)}
    assert {"bad_signature", "malformed"} <= reasons, reasons
    fleet.http.post(f"{API}/broadcasts/{broadcast['id']}/stop").raise_for_status()


def test_genuine_chunks_published_again_are_refused_as_replayed(fleet: Fleet, stack: Stack,
                                                                station: Icecast) -> None:
    """Chunks recorded from the broker, signed by the controller and published again during the same
    broadcast: none of them is played, on any agent, and each agent reports the replay."""
    _, villages = new_commune(fleet, villages=1)
    agents = [fleet.enrolled_agent(area=villages[0]) for _ in range(2)]
    for device_id, config in agents:
        fleet.start(config)
        wait_for(lambda d=device_id: fleet.online(d), 10.0, what="online")
    broadcast = start_relay(fleet, station, villages)
    topic = topics.stream(broadcast["id"], StreamTopic.CHUNK)
    recorder = TopicWatch(stack, topic)
    try:
        for _, config in agents:
            card = config_file.load(config).data_dir / "card"
            wait_for(lambda c=card: loud_after(c, 0), 30.0, what="the station on the card")
        recorded = wait_for(lambda: recorder.payloads()[:REPLAYED] if len(recorder.payloads()) >= REPLAYED
                            else None, 15.0, what="genuine chunks recorded from the broker")
        before = {device_id: _stream_rejected(fleet, device_id) for device_id, _ in agents}
        for payload in recorded:
            recorder.client.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        recorder.close()
    for device_id, _ in agents:
        wait_for(lambda d=device_id: _stream_rejected(fleet, d) >= before[d] + REPLAYED, 15.0,
                 what=f"every chunk published again refused by {device_id}")
        reasons = {e["data"]["reason"] for e in security_events(fleet, device_id)}
        assert "replayed" in reasons, reasons
        assert not reasons & {"bad_signature", "malformed"}, "genuine chunks, genuinely signed"
    fleet.http.post(f"{API}/broadcasts/{broadcast['id']}/stop").raise_for_status()


def test_the_microphone_socket_carries_pcm_to_the_agents(fleet: Fleet,
                                                         controller: ControllerProcess) -> None:
    _, villages = new_commune(fleet, villages=1)
    agents = [fleet.enrolled_agent(area=villages[0]) for _ in range(2)]
    for device_id, config in agents:
        fleet.start(config)
        wait_for(lambda d=device_id: fleet.online(d), 10.0, what="online")
    created = fleet.http.post(f"{API}/broadcasts", json={
        "level": "live", "live": {"kind": "microphone"}, "area_ids": villages,
        "confirm_password": ADMIN_PASSWORD})
    assert created.status_code == 201, created.text
    broadcast = created.json()
    token = fleet.http.headers["Authorization"].split()[1]
    url = controller.url.replace("http://", "ws://") + f"{API}/broadcasts/{broadcast['id']}/microphone"
    speech = (np.sin(2 * np.pi * 523 * np.arange(48_000 * 4) / 48_000) * 12_000).astype("<i2")
    with ws_connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as socket:
        captured_at = time.time()
        for block in np.split(speech, 200):  # 20 ms blocks, in real time
            socket.send(block.tobytes())
            time.sleep(0.02)
        on_air = json.loads(socket.recv(timeout=5))
        assert on_air["state"] == "on_air" and on_air["latency_ms"] == 500
    for _, config in agents:
        onset = wait_for(lambda c=config: loud_after(config_file.load(c).data_dir / "card", 0), 20.0,
                         what="the voice on the card")
        assert 0.3 < onset - captured_at < 1.0, f"mouth to speaker {onset - captured_at:.3f} s"
    def status() -> str:
        return str(fleet.http.get(f"{API}/broadcasts/{broadcast['id']}").json()["status"])

    wait_for(lambda: status() == "done", 25.0, what="the broadcast done once the socket closed")


def test_the_microphone_socket_refuses_the_wrong_callers_and_data(fleet: Fleet,
                                                                  controller: ControllerProcess) -> None:
    _, villages = new_commune(fleet, villages=1)
    created = fleet.http.post(f"{API}/broadcasts", json={
        "level": "live", "live": {"kind": "microphone"}, "area_ids": villages,
        "confirm_password": ADMIN_PASSWORD}).json()
    url = controller.url.replace("http://", "ws://") + f"{API}/broadcasts/{created['id']}/microphone"
    token = fleet.http.headers["Authorization"].split()[1]
    for headers in ({}, {"Authorization": "Bearer not-a-token"},
                    {"Authorization": f"Bearer {token}", "Origin": "https://evil.example"}):
        with pytest.raises(InvalidStatus), ws_connect(url, additional_headers=headers):
            pass
    with ws_connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as socket:
        socket.send("not audio")
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                socket.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003
    fleet.http.post(f"{API}/broadcasts/{created['id']}/stop")


@pytest.mark.parametrize(("live", "level", "problem"), [
    ({"kind": "relay", "url": "file:///etc/passwd"}, "live", "http"),
    ({"kind": "relay", "url": "http://"}, "live", "host"),
    ({"kind": "relay"}, "live", "http"),
    ({"kind": "relay", "url": "http://x/" + "a" * 3000}, "live", "2000"),
    ({"kind": "relay", "url": "http://radio.example/a b"}, "live", "spaces"),
    ({"kind": "relay", "url": "http://169.254.169.254/latest/meta-data"}, "live", "private or local"),
    ({"kind": "relay", "url": "http://10.1.2.3:6379/"}, "live", "private or local"),
    ({"kind": "relay", "url": "http://[::1]:1883/"}, "live", "private or local"),
    ({"kind": "relay", "url": "http://127.0.0.1:99999/x"}, "live", "port"),
    ({"kind": "microphone"}, "normal", "level live"),
    ({"kind": "sound-card"}, "live", "microphone"),
])
def test_bad_live_sources_are_refused_with_the_reason(fleet: Fleet, live: dict[str, str], level: str,
                                                      problem: str) -> None:
    body = {"level": level, "live": live, "area_ids": ["thon-a"], "confirm_password": ADMIN_PASSWORD}
    response = fleet.http.post(f"{API}/broadcasts", json=body)
    assert response.status_code == 422 and problem in response.text, response.text


def test_a_scheduled_background_relay_airs_in_its_window_and_yields_to_a_bulletin(
        fleet: Fleet, station: Icecast) -> None:
    _, villages = new_commune(fleet, villages=1)
    device_id, config = fleet.enrolled_agent(area=villages[0])
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 10.0, what="online")
    card = config_file.load(config).data_dir / "card"
    schedule_id, closes_at = relay_schedule(fleet, station, villages[0], opened_s_ago=44, length_s=60)
    wait_for(lambda: loud_after(card, 0), 20.0, what="the station on the card, opened by the scheduler")
    bulletin_at = int(time.time() * 1000) + 1500
    schedule(fleet, area_id=villages[0], level="normal", start_ms=bulletin_at, duration_ms=2000,
             source={"type": "tone", "frequency_hz": 2000})
    wait_for(lambda: time.time() > closes_at + 3, 25.0, what="the window closed")

    heard = [(at, round(f / 20) * 20) for at, f in dominant_frequencies(card)]
    tone = [at for at, f in heard if f == 2000]
    assert tone and abs(tone[0] - bulletin_at / 1000) < 0.3, "the bulletin cut into the relay on time"
    assert any(f < 1200 for at, f in heard if tone[-1] + 0.5 < at < closes_at), "the station came back"
    assert loud_after(card, closes_at + 1.0) is None, "silent once the window closed"
    aired = [b for b in fleet.http.get(f"{API}/broadcasts").json() if b.get("schedule_id") == schedule_id]
    assert len(aired) == 1 and aired[0]["status"] == "done" and aired[0]["level"] == "background", aired
    assert aired[0]["live_kind"] == "relay"
    plays = fleet.http.get(f"{API}/schedule-preview", params={
        "area_id": villages[0], "date": datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date().isoformat()})
    assert any(p["relay"] and p["schedule_id"] == schedule_id for p in plays.json()), plays.text


def test_a_station_that_redirects_into_the_controllers_network_reaches_nothing(
        stack: Stack, tmp_path: Path) -> None:
    """The relay's first host is a station it may reach (127.0.0.2 here); it answers with a redirect to
    127.0.0.1, which stands for the controller's own network. ffmpeg would follow it; the controller
    refuses the hop, nothing inside is asked, and the session ends as refused, audited."""
    inside = HttpSite("127.0.0.1", {"/secret": lambda: (200, {"Content-Type": "audio/mpeg"}, b"\xff" * 4096)})
    station = HttpSite("127.0.0.2", {"/radio.mp3": lambda: (302, {"Location": f"{inside.url}/secret"}, b"")})
    try:
        with own_fleet(stack, tmp_path, LOALANG_RELAY_ALLOWED_NETWORKS="127.0.0.2/32") as fleet:
            created = fleet.http.post(f"{API}/broadcasts", json={
                "level": "live", "live": {"kind": "relay", "url": f"{station.url}/radio.mp3"},
                "area_ids": ["thon-a"], "confirm_password": ADMIN_PASSWORD})
            assert created.status_code == 201, created.text
            broadcast_id = created.json()["id"]

            def ended() -> dict[str, Any] | None:
                entries = fleet.http.get(f"{API}/audit", params={"limit": 50}).json()
                return next((e for e in entries if e["action"] == "broadcast.live_end"
                             and broadcast_id in e["targets"]), None)
            entry = wait_for(ended, 30.0, what="the relay's end")
            assert entry["detail"]["reason"] == "source_refused", entry
        assert station.requests == ["/radio.mp3"], station.requests
        assert inside.requests == [], "the redirect reached inside"
    finally:
        station.close()
        inside.close()
