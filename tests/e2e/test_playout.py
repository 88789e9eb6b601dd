"""Scheduled items play at their time on every targeted cluster, measured in the recorded audio."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from receiver_agent import config as config_file
from tests.testkit import Fleet, schedule, tone_onset, wait_for

pytestmark = pytest.mark.e2e


def _card(config: Path) -> Path:
    return config_file.load(config).data_dir / "card"


def _receipts(fleet: Fleet, device_id: str, kind: str) -> list[dict]:
    response = fleet.http.get(f"/api/v1/devices/{device_id}/events", params={"type": kind})
    response.raise_for_status()
    return response.json()


def test_two_agents_start_the_same_tone_at_the_same_time(fleet: Fleet) -> None:
    agents = []
    for _ in range(2):
        device_id, config = fleet.enrolled_agent(area="thon-a")
        fleet.start(config)
        agents.append((device_id, config))
    for device_id, _ in agents:
        wait_for(lambda d=device_id: fleet.online(d), 5.0, what="online")
    start_ms = int(time.time() * 1000) + 5000
    occurrence = schedule(fleet, area_id="thon-a", level="normal", start_ms=start_ms, duration_ms=1500,
                          source={"type": "tone", "frequency_hz": 440}, title="test tone")
    for device_id, _ in agents:
        wait_for(lambda d=device_id: any(r["data"]["occurrence"] == occurrence
                                         for r in _receipts(fleet, d, "completed")), 15.0, what="completed")
    onsets = [tone_onset(_card(config), 440) for _, config in agents]
    assert all(onset is not None for onset in onsets), onsets
    print("onsets relative to T (ms):", [round((onset - start_ms / 1000) * 1000, 1) for onset in onsets])
    for onset in onsets:
        assert abs(onset - start_ms / 1000) < 0.25, f"tone started {onset - start_ms / 1000:+.3f} s from T"
    started = [_receipts(fleet, d, "started")[0]["data"] for d, _ in agents]
    assert all(r["occurrence"] == occurrence for r in started)
