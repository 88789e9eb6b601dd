"""Delivery tracking outlives a Redis that came back empty: rebuilt from the database and the stored
receipts, so a broadcast playing when Redis was wiped still ends with a true report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.testkit import Fleet, Stack, flush_redis, own_fleet, upload_media, wait_for, write_steps_wav

pytestmark = pytest.mark.e2e

API = "/api/v1"
REDIS_DB = "9"  # this test's controller's own Redis database, wiped at will


@pytest.fixture
def fleet_on_own_redis(stack: Stack, tmp_path: Path) -> Iterator[Fleet]:
    flush_redis(stack, REDIS_DB)
    with own_fleet(stack, tmp_path, LOALANG_REDIS_URL=f"redis://127.0.0.1:{stack.redis_port}/{REDIS_DB}",
                   LOALANG_INSTANCE_ID="ctl-rebuild") as driver:
        yield driver


@pytest.mark.sounds
def test_a_broadcast_playing_when_redis_is_wiped_ends_with_a_true_report(
        fleet_on_own_redis: Fleet, stack: Stack, tmp_path: Path) -> None:
    fleet = fleet_on_own_redis
    agents = [fleet.enrolled_agent(area="thon-a") for _ in range(2)]
    for device_id, config in agents:
        fleet.start(config)
        wait_for(lambda d=device_id: fleet.online(d), 10.0, what="online")
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "tin.wav", [520.0] * 8))
    created = fleet.http.post(f"{API}/broadcasts", json={"level": "normal", "media_sha256": sha,
                                                         "title": "Tin dài", "area_ids": ["thon-a"]})
    assert created.status_code == 201, created.text
    broadcast_id = created.json()["id"]

    def delivery() -> dict[str, Any]:
        states: dict[str, Any] = fleet.http.get(f"{API}/broadcasts/{broadcast_id}/delivery").json()["devices"]
        return states

    wait_for(lambda: {s["state"] for s in delivery().values()} == {"playing"}, 30.0, what="both playing")
    flush_redis(stack, REDIS_DB)

    rebuilt = wait_for(lambda: len(delivery()) == 2 and delivery(), 10.0, what="the delivery rebuilt")
    assert {s["state"] for s in rebuilt.values()} <= {"playing", "completed"}, rebuilt
    report = wait_for(lambda: fleet.http.get(f"{API}/broadcasts/{broadcast_id}").json()["report"], 40.0,
                      what="the final report")
    assert report["by_state"] == {"completed": 2}, report
    assert fleet.http.get(f"{API}/broadcasts/{broadcast_id}").json()["status"] == "done"
