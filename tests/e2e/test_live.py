"""Live broadcasting: a relayed Icecast station heard in step on the targeted agents, and only there.

The station plays a one-second chirp (300 to 1100 Hz) over and over: its cross-correlation has one
sharp peak, so the time between two cards playing the same sample is measured to a sample.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from loalang_stack import icecast
from loalang_stack.icecast import Icecast
from loalang_stack.ports import free_port
from receiver_agent import config as config_file
from receiver_agent.audio.simulated import read_recording
from tests.e2e.test_broadcasts import commune
from tests.testkit import ADMIN_PASSWORD, Fleet, receipts, wait_for

API = "/api/v1"
CHIRP = "aevalsrc=exprs=0.4*sin(2*PI*(300*mod(t\\,1)+400*mod(t\\,1)*mod(t\\,1))):s=48000:d=60"


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Icecast]:
    """A local Icecast2 server with a station playing a chirp for a minute."""
    server = icecast.start(tmp_path / "icecast", free_port())
    source = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", CHIRP,
         "-ac", "1", "-c:a", "libmp3lame",
         "-b:a", "64k", "-content_type", "audio/mpeg", "-f", "mp3", server.source_url("station.mp3")])
    try:
        yield server
    finally:
        source.kill()
        source.wait()
        server.stop()


def stream_bytes(fleet: Fleet, device_id: str) -> int:
    telemetry = fleet.device(device_id).get("telemetry") or {}
    return int(telemetry.get("stream_bytes", -1))


def test_a_relayed_station_plays_in_step_on_the_targeted_agents_only(fleet: Fleet, station: Icecast) -> None:
    _, villages = commune(fleet)
    targeted = [fleet.enrolled_agent(area=villages[0]) for _ in range(2)]
    bystander = fleet.enrolled_agent(area=villages[1])
    for _, config in [*targeted, bystander]:
        fleet.start(config)
    for device_id, _ in [*targeted, bystander]:
        wait_for(lambda d=device_id: fleet.online(d), 10.0, what=f"{device_id} online")

    created = fleet.http.post(f"{API}/broadcasts", json={
        "level": "live", "live": {"kind": "relay", "url": station.listen_url("station.mp3")},
        "area_ids": [villages[0]], "title": "Tiếp sóng", "confirm_password": ADMIN_PASSWORD})
    assert created.status_code == 201, created.text
    broadcast = created.json()
    assert broadcast["live_kind"] == "relay" and broadcast["status"] == "on_air"

    cards = [config_file.load(config).data_dir / "card" for _, config in targeted]
    for card in cards:
        wait_for(lambda c=card: loud_after(c, 0), 30.0, what="the station on the card")
    time.sleep(4)
    skew_ms = playing_skew_ms(cards)
    print(f"skew between the two cards: {skew_ms:.3f} ms")
    assert skew_ms < 5, f"the same sample at the same instant on both cards: {skew_ms:.2f} ms apart"
    for device_id, _ in targeted:
        assert receipts(fleet, device_id, "started"), "a receipt says the stream was aired"

    stopped = fleet.http.post(f"{API}/broadcasts/{broadcast['id']}/stop")
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    time.sleep(4)
    for card in cards:
        assert loud_after(card, time.time() - 1.5) is None, "silent after the stop"
    wait_for(lambda: stream_bytes(fleet, targeted[0][0]) > 10_000, 10.0, what="telemetry of stream bytes")
    assert stream_bytes(fleet, bystander[0]) == 0, "an agent not addressed receives no stream bytes"
    assert loud_after(config_file.load(bystander[1]).data_dir / "card", 0) is None


def playing_skew_ms(cards: list[Path], window_s: float = 1.0) -> float:
    """How far apart the same audio leaves two cards: cross-correlation of the recordings in wall time."""
    recordings = [wall_clock_audio(card) for card in cards]
    start = max(r[0] for r in recordings) + 1.0
    segments = [samples_at(r, start, window_s) for r in recordings]
    padded = np.concatenate([np.zeros(480), segments[1], np.zeros(480)])
    lag = int(np.argmax(np.correlate(padded, segments[0], "valid"))) - 480
    return abs(lag) / 48.0


def wall_clock_audio(card: Path) -> tuple[float, np.ndarray, list[tuple[int, float]]]:
    pcm, times = read_recording(card)
    return times[0][1], np.frombuffer(pcm, dtype="<i2").astype(float), times


def samples_at(recording: tuple[float, np.ndarray, list[tuple[int, float]]], start: float,
               length_s: float) -> np.ndarray:
    """The samples that left the card from wall time start on, using its time log."""
    _, samples, times = recording
    period, at = next((index, wall) for index, wall in times if wall >= start)
    first = period * 480 - round((at - start) * 48000)
    return samples[first:first + int(length_s * 48000)]


def loud_after(card: Path, after: float) -> float | None:
    """When the card first played something loud after the wall time given (None: never)."""
    pcm, times = read_recording(card)
    samples = np.frombuffer(pcm, dtype="<i2").astype(float).reshape(-1, 480)
    for index, wall in times:
        if wall > after and index < len(samples) and np.sqrt(np.mean(samples[index] ** 2)) > 300:
            return wall
    return None
