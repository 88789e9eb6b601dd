"""Ducking: a relayed station goes on lowered under a bulletin, by the area's own setting, and comes
back after; the bulletin starts on time over it. Measured from what the simulated card played."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loalang_stack.icecast import Icecast
from receiver_agent import config as config_file
from tests.testkit import (
    API,
    Fleet,
    band_level_db,
    loud_after,
    new_commune,
    playing_station,
    receipts,
    relay_schedule,
    schedule,
    tone_onset_in_mix,
    wait_for,
    wall_clock_audio,
)

pytestmark = pytest.mark.e2e

STATION_HZ = 500.0
BULLETIN_HZ = 2000.0
STEADY = f"aevalsrc=exprs=0.4*sin(2*PI*{STATION_HZ:.0f}*t):s=48000"
DUCKING_DB = -20
START_WITHIN_S = 0.02  # the start accuracy the suite holds bulletins to on a free card
FADE_S, HOLD_S = 0.25, 0.5


@pytest.fixture
def steady_station(tmp_path: Path) -> Iterator[Icecast]:
    """A station playing one steady sine: its level is measured to a fraction of a decibel."""
    with playing_station(tmp_path, STEADY) as server:
        yield server


def test_a_relayed_station_goes_down_under_a_bulletin_by_the_areas_ducking_and_comes_back(
        fleet: Fleet, steady_station: Icecast) -> None:
    commune, villages = new_commune(fleet, villages=1)
    changed = fleet.http.patch(f"{API}/areas/{commune}", json={"ducking_db": DUCKING_DB})
    assert changed.status_code == 200 and changed.json()["ducking_db"] == DUCKING_DB, changed.text
    device_id, config = fleet.enrolled_agent(area=villages[0])
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 10.0, what="online")
    card = config_file.load(config).data_dir / "card"
    relay_schedule(fleet, steady_station, villages[0], opened_s_ago=1, length_s=60)
    wait_for(lambda: loud_after(card, 0), 20.0, what="the station on the card")
    time.sleep(1.5)  # a second and more of the station alone
    bulletin_at = time.time() + 2.5
    bulletin = schedule(fleet, area_id=villages[0], level="normal", start_ms=int(bulletin_at * 1000),
                        duration_ms=2000, source={"type": "tone", "frequency_hz": BULLETIN_HZ})
    over = bulletin_at + 2.0
    wait_for(lambda: time.time() > over + HOLD_S + FADE_S + 1.2, 12.0, what="the station back after it")

    heard = wall_clock_audio(card)
    full = band_level_db(heard, STATION_HZ, bulletin_at - 1.2, 1.0)
    assert full > -30, f"the station is on the card ({full:.1f} dB)"
    onset = tone_onset_in_mix(heard, BULLETIN_HZ, bulletin_at - 0.5)
    assert onset is not None and abs(onset - bulletin_at) < START_WITHIN_S, (onset, bulletin_at)
    before = band_level_db(heard, STATION_HZ, bulletin_at - 0.25, 0.2)
    assert before == pytest.approx(full, abs=1.0), "not lowered before the bulletin sounds"
    lowered = band_level_db(heard, STATION_HZ, onset + FADE_S, 2.0 - FADE_S - 0.1)
    assert lowered - full == pytest.approx(DUCKING_DB, abs=1.0), "down by the area's ducking within the fade"
    back = band_level_db(heard, STATION_HZ, over + HOLD_S + FADE_S + 0.1, 1.0)
    assert back == pytest.approx(full, abs=1.0), "back after the hold and the fade"

    events = [(e["type"], e["data"].get("occurrence")) for e in receipts(fleet, device_id)]
    station = [kind for kind, occurrence in events if occurrence not in (None, bulletin)
               and kind in ("started", "resumed", "interrupted")]
    assert station == ["started"], f"the station was never interrupted: {events}"
    assert ("completed", bulletin) in events, events
