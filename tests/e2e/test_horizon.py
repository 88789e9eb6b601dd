"""The schedule horizon slides with time: an item scheduled beyond it reaches the devices when it enters it.

A controller of its own runs with a 10 s horizon (48 h in production) and a 1 s refresh, so the
test sees in seconds what takes days in the field.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from receiver_agent.storage import read_json
from tests.testkit import Fleet, Stack, own_controller, quiet_hours_away_from_now, tone_onset, wait_for

pytestmark = pytest.mark.e2e

HORIZON_S = 10


@pytest.fixture(scope="module")
def horizon_controller(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerProcess]:
    with own_controller(stack, tmp_path_factory.mktemp("horizon"), LOALANG_INSTANCE_ID="ctl-horizon",
                        LOALANG_SCHEDULE_HORIZON_S=str(HORIZON_S), LOALANG_HORIZON_REFRESH_S="1") as process:
        yield process


def scheduled_ids(config: Path) -> set[str]:
    """The occurrence ids in the agent's schedule on disk."""
    sources = read_json(config_file.load(config).data_dir / "schedule.json", {}).get("sources", {})
    return {occ["id"] for source in sources.values() for occ in source.get("occurrences", [])}


def test_an_item_beyond_the_horizon_arrives_when_it_enters_it_and_plays_on_time(
        horizon_controller: ControllerProcess, tmp_path: Path) -> None:
    fleet = Fleet(horizon_controller, tmp_path)
    try:
        fleet.http.post("/api/v1/areas", json={"id": "tinh-chan-troi", "name": "Tỉnh Chân Trời",
                                               "level": "province", **quiet_hours_away_from_now()}
                        ).raise_for_status()
        fleet.http.post("/api/v1/areas", json={"id": "thon-chan-troi", "name": "Thôn Chân Trời",
                                               "level": "village", "parent_id": "tinh-chan-troi"}
                        ).raise_for_status()
        device_id, config = fleet.enrolled_agent(area="thon-chan-troi")
        fleet.start(config)
        wait_for(lambda: fleet.online(device_id), 10.0, what="online")

        start_ms = int(time.time() * 1000) + (HORIZON_S + 9) * 1000
        response = fleet.http.post("/api/v1/occurrences", json={
            "area_id": "thon-chan-troi", "level": "normal", "start_ms": start_ms, "duration_ms": 1500,
            "source": {"type": "tone", "frequency_hz": 440}})
        assert response.status_code == 201, response.text
        occurrence_id = response.json()["id"]
        version_at_add = fleet.http.get("/api/v1/areas/thon-chan-troi").json()["desired_version"]

        time.sleep(4)  # the add was published at once, without the item (it lies beyond the horizon)
        assert occurrence_id not in scheduled_ids(config)

        wait_for(lambda: occurrence_id in scheduled_ids(config), 20.0, what="the item in the schedule")
        entered_s = time.time()
        assert entered_s <= start_ms / 1000 - HORIZON_S + 4, "arrived later than the refresh allows"
        assert fleet.http.get("/api/v1/areas/thon-chan-troi").json()["desired_version"] > version_at_add

        card = config_file.load(config).data_dir / "card"
        onset = wait_for(lambda: tone_onset(card, 440), start_ms / 1000 - time.time() + 5,
                         what="the item entering the horizon played")
        # arrival is what this test shows; start precision is tests/e2e/test_playout.py's job (and the
        # benchmark's): a second controller on the same broker answers this agent's clock requests too
        assert abs(onset - start_ms / 1000) < 1.0
    finally:
        fleet.close()
