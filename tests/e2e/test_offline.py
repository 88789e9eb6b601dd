"""Playing on with no network, honest about time, and quiet at night."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from receiver_agent import config as config_file
from tests.testkit import (
    BrokerGate,
    Fleet,
    Stack,
    dominant_frequencies,
    quiet_hours_away_from_now,
    receipts,
    route_through,
    schedule,
    tone_onset,
    upload_media,
    wait_for,
    write_steps_wav,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def gate(stack: Stack) -> BrokerGate:
    gate = BrokerGate(stack.mqtt_port)
    gate.open()
    yield gate
    gate.shut()


def _gated_agent(fleet: Fleet, gate: BrokerGate, area: str = "thon-b", **broker: float) -> tuple[str, Path]:
    device_id, config = fleet.enrolled_agent(area=area)
    route_through(config, gate, **broker)
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 5.0, what="online through the gate")
    return device_id, config


def _of(fleet: Fleet, device_id: str, kind: str, occurrence: str) -> list[dict]:
    return [r for r in receipts(fleet, device_id, kind) if r["data"].get("occurrence") == occurrence]


def _scheduled(config: Path, occurrence: str) -> bool:
    data = json.loads((config.parent / "schedule.json").read_text())
    return any(o["id"] == occurrence for source in data["sources"].values() for o in source["occurrences"])


def test_broker_gone_before_t_the_item_plays_from_cache_and_receipts_arrive_once(
        fleet: Fleet, gate: BrokerGate, tmp_path: Path) -> None:
    device_id, config = _gated_agent(fleet, gate, reconnect_window_s=1.0, reconnect_cap_s=3.0)
    steps = [400.0, 500.0, 600.0]
    sha, size = upload_media(fleet, write_steps_wav(tmp_path / "news.wav", steps))
    start = int(time.time() * 1000) + 8000
    occurrence = schedule(fleet, area_id="thon-b", level="normal", start_ms=start, duration_ms=3000,
                          source={"type": "media", "sha256": sha, "size": size})
    wait_for(lambda: any(r["data"]["sha256"] == sha for r in receipts(fleet, device_id, "downloaded")), 10.0,
             what="downloaded ahead of time")
    gate.shut()
    wait_for(lambda: not fleet.online(device_id), 12.0, interval=0.5, what="offline")
    card = config_file.load(config).data_dir / "card"
    wait_for(lambda: time.time() * 1000 > start + 4000, 15.0, interval=0.2, what="after the item")
    played = [round(f / 10) * 10 for _, f in dominant_frequencies(card)]
    assert [f for i, f in enumerate(played) if i == 0 or played[i - 1] != f] == [400, 500, 600]
    onset = tone_onset(card, 400)
    assert onset is not None and abs(onset - start / 1000) < 0.25
    assert _of(fleet, device_id, "completed", occurrence) == [], "nothing can arrive while offline"
    gate.open()
    wait_for(lambda: _of(fleet, device_id, "completed", occurrence), 45.0, what="receipts after reconnect")
    time.sleep(2)  # any duplicate would arrive now
    events = receipts(fleet, device_id)
    assert len(_of(fleet, device_id, "started", occurrence)) == 1
    assert len(_of(fleet, device_id, "completed", occurrence)) == 1
    seqs = Counter((e["install_id"], e["seq"]) for e in events)
    assert max(seqs.values()) == 1, "each receipt is stored exactly once"
    install = events[0]["install_id"]
    assert sorted(e["seq"] for e in events if e["install_id"] == install) == list(
        range(1, 1 + len([e for e in events if e["install_id"] == install])))


def test_with_the_clock_hours_wrong_nothing_scheduled_plays_until_the_time_is_known(
        fleet: Fleet, gate: BrokerGate) -> None:
    # reconnection windows of 1, 2 and then 3 s (5, 10, 20... by default): the agent is back soon after
    # the broker, and the later item need not be far off
    device_id, config = _gated_agent(fleet, gate, reconnect_window_s=1.0, reconnect_cap_s=3.0)
    now = int(time.time() * 1000)
    early = schedule(fleet, area_id="thon-b", level="normal", start_ms=now + 12_000, duration_ms=1500,
                     max_lateness_ms=2000, source={"type": "tone", "frequency_hz": 440})
    later = schedule(fleet, area_id="thon-b", level="normal", start_ms=now + 24_000, duration_ms=1500,
                     source={"type": "tone", "frequency_hz": 660})
    wait_for(lambda: _scheduled(config, later), 5.0, what="schedule on disk")
    fleet.agents[-1].stop()
    gate.shut()
    fleet.start(config, env={"LOALANG_SIMULATED_CLOCK_ERROR_S": str(-3 * 3600)})
    card = config_file.load(config).data_dir / "card"
    wait_for(lambda: time.time() * 1000 > now + 16_000, 20.0, interval=0.2, what="past the first item")
    assert tone_onset(card, 440) is None, "nothing scheduled plays while the time is unknown"
    gate.open()
    wait_for(lambda: _of(fleet, device_id, "missed", early), 40.0, what="the first item reported missed")
    assert _of(fleet, device_id, "missed", early)[0]["data"]["reason"] == "time_unknown"
    wait_for(lambda: _of(fleet, device_id, "completed", later), 30.0, what="the later item played")
    onset = tone_onset(card, 660)
    assert onset is not None, "the later item played"
    assert abs(onset - (now + 24_000) / 1000) < 0.25, "on time, by the controller's clock"


def test_quiet_hours_skip_normal_items_but_not_overrides_or_emergencies(fleet: Fleet) -> None:
    """The gate refuses a normal play inside quiet hours; a play scheduled before the quiet hours
    were moved over it is skipped by the agent itself, while an override and an emergency play."""
    local = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
    quiet = {"quiet_start": (local - timedelta(hours=1)).strftime("%H:00"),
             "quiet_end": (local + timedelta(hours=2)).strftime("%H:00")}
    try:
        device_id, config = fleet.enrolled_agent(area="thon-c")
        fleet.start(config)
        wait_for(lambda: fleet.online(device_id), 5.0, what="online")
        start = int(time.time() * 1000) + 8000
        normal = schedule(fleet, area_id="thon-c", level="normal", start_ms=start, duration_ms=1000,
                          source={"type": "tone", "frequency_hz": 440})
        fleet.http.patch("/api/v1/areas/thon-c", json=quiet).raise_for_status()
        refused = fleet.http.post("/api/v1/occurrences", json={
            "area_id": "thon-c", "level": "normal", "start_ms": start, "duration_ms": 1000,
            "source": {"type": "tone", "frequency_hz": 550}})
        assert refused.status_code == 422 and refused.json()["code"] == "quiet_hours", refused.text
        override = schedule(fleet, area_id="thon-c", level="normal", start_ms=start + 2000, duration_ms=1000,
                            quiet_override=True, source={"type": "tone", "frequency_hz": 660})
        alarm = schedule(fleet, area_id="xa-hai", level="emergency", start_ms=start + 4000, duration_ms=1000,
                         source={"type": "tone", "frequency_hz": 1000})
        wait_for(lambda: _of(fleet, device_id, "completed", alarm), 20.0, what="emergency played")
        assert _of(fleet, device_id, "skipped", normal)[0]["data"]["reason"] == "quiet_hours"
        assert _of(fleet, device_id, "completed", override)
        card = config_file.load(config).data_dir / "card"
        assert tone_onset(card, 440) is None
        assert tone_onset(card, 660) is not None and tone_onset(card, 1000) is not None
    finally:
        fleet.http.patch("/api/v1/areas/thon-c", json=quiet_hours_away_from_now()).raise_for_status()
