"""The schedule on disk keeps, per source, whether its items must wait for the time."""

from __future__ import annotations

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
