"""The schedule on disk keeps, per source, whether its items must wait for the time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from receiver_agent.playout.schedule import Schedule
from receiver_agent.storage import WRITER

pytestmark = pytest.mark.unit

NOW = 1_800_000_000_000


def _emergency(occurrence_id: str) -> dict[str, Any]:
    return {"id": occurrence_id, "level": "emergency", "start_ms": NOW, "duration_ms": 1000,
            "source": {"type": "tone", "frequency_hz": 1000}}


def test_items_of_an_older_message_wait_for_the_time_across_a_restart(tmp_path: Path) -> None:
    schedule = Schedule(tmp_path / "schedule.json")
    schedule.take("thon-a", 3, [_emergency("o-old")], None, NOW, needs_time=True)
    schedule.take("xa-mot", 2, [_emergency("o-fresh")], None, NOW)
    WRITER.flush()
    restarted = Schedule(tmp_path / "schedule.json")
    assert {item.id: item.needs_time for _, item in restarted.pending()} == {"o-old": True, "o-fresh": False}
    restarted.take("thon-a", 3, [_emergency("o-old")], None, NOW)
    assert [item.needs_time for _, item in restarted.pending()] == [False, False], "a fresh copy plays"


def _bulletin(n: int) -> dict[str, Any]:
    return {"id": f"o-{n}", "level": "normal", "start_ms": NOW + n * 60_000, "duration_ms": 5000,
            "source": {"type": "media", "sha256": f"{n:064x}", "size": 1000}}


def test_a_done_occurrence_is_held_as_its_id_alone_and_never_plays_again(tmp_path: Path) -> None:
    """An hour of a bulletin a minute stays in the desired state; played, each is an id, here and on disk."""
    hour = [_bulletin(n) for n in range(60)]
    schedule = Schedule(tmp_path / "schedule.json")
    schedule.take("thon-a", 3, hour, None, NOW)
    for n in range(59):
        schedule.mark_done(f"o-{n}")
    assert [item.id for _, item in schedule.pending()] == ["o-59"]
    assert schedule.occurrence("o-3") is None and schedule.occurrence("o-59") is not None
    ids, files = schedule.known()
    assert ids == {f"o-{n}" for n in range(60)} and files == {f"{59:064x}"}
    schedule.take("thon-a", 3, hour, None, NOW)  # the same desired state again, as after a reconnection
    assert [item.id for _, item in schedule.pending()] == ["o-59"], "the done ones never play again"
    WRITER.flush()
    on_disk = json.loads((tmp_path / "schedule.json").read_text())
    assert [raw["id"] for raw in on_disk["sources"]["thon-a"]["occurrences"]] == ["o-59"]
    restarted = Schedule(tmp_path / "schedule.json")
    assert [item.id for _, item in restarted.pending()] == ["o-59"] and len(restarted.done) == 59
    restarted.take("thon-a", 3, hour[50:], None, NOW)  # the first fifty left the desired state
    assert restarted.done == {f"o-{n}" for n in range(50, 59)}, "forgotten once their source forgot them"


def test_a_schedule_an_earlier_release_wrote_in_full_is_made_compact(tmp_path: Path) -> None:
    (tmp_path / "schedule.json").write_text(json.dumps({
        "sources": {"thon-a": {"depth": 3, "occurrences": [_bulletin(0), _bulletin(1)], "needs_time": False,
                               "quiet": None}},
        "done": ["o-0"]}))
    schedule = Schedule(tmp_path / "schedule.json")
    assert [item.id for _, item in schedule.pending()] == ["o-1"] and schedule.done == {"o-0"}
    assert schedule.known()[0] == {"o-0", "o-1"}
