"""A device's flood is told once per window, with what was shed since it was last told: an audit entry
for the device and an event on its area's feed; memory stays bounded."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from redis.asyncio import Redis

from controller import feed
from controller.counters import Counters
from controller.db.models import Area, AuditEntry, Device
from controller.db.session import Database, migrate
from controller.mqtt import floods
from controller.mqtt.floods import FloodWatch
from tests.testkit import Stack

pytestmark = pytest.mark.unit


def services(tmp_path: Path, stack: Stack) -> Any:
    url = f"sqlite:///{tmp_path / 'floods.sqlite3'}"
    migrate(url)
    db = Database(url)
    with db.session() as session:
        session.add(Area(id="thon-x", name="Thôn X", level="village"))
        session.add(Device(id="loa-thief", name="Cụm loa", area_id="thon-x", latitude=0.0, longitude=0.0))
    return SimpleNamespace(db=db, redis=Redis(port=stack.redis_port, db=5), counters=Counters())


def flood_entries(db: Database) -> list[tuple[str, list[str], dict[str, Any]]]:
    with db.session() as session:
        return [(e.actor, e.targets, e.detail) for e in session.query(AuditEntry).filter(
            AuditEntry.action == "device.flood").order_by(AuditEntry.id)]


def test_a_flood_is_told_once_per_window_with_what_was_shed_since(tmp_path: Path, stack: Stack) -> None:
    kept = services(tmp_path, stack)
    watch = FloodWatch(kept, window_s=60.0)

    async def scenario() -> list[dict[str, Any]]:
        await kept.redis.delete(feed.FEED_KEY)
        for _ in range(30):
            watch.note("loa-thief", "status")
        assert await watch.tell_due(1000.0) == {"loa-thief": {"status": 30}}
        for _ in range(500):
            watch.note("loa-thief", "event")
        assert await watch.tell_due(1030.0) == {}, "once per window"
        assert await watch.tell_due(1061.0) == {"loa-thief": {"event": 500}}
        events = await kept.redis.xrange(feed.FEED_KEY)
        await kept.redis.aclose()
        return [json.loads(fields[b"event"]) for _, fields in events]

    told = asyncio.run(scenario())
    assert [(actor, targets, detail["shed"]) for actor, targets, detail in flood_entries(kept.db)] == [
        ("system", ["loa-thief"], {"status": 30}), ("system", ["loa-thief"], {"event": 500})]
    expected = ("security", ["thon-x"], "loa-thief")
    assert [(e["type"], e["areas"], e["device_id"]) for e in told] == [expected] * 2
    kept.db.engine.dispose()


def test_the_devices_waiting_to_be_told_are_bounded(tmp_path: Path, stack: Stack,
                                                    monkeypatch: Any) -> None:
    monkeypatch.setattr(floods, "TRACKED_MAX", 3)
    kept = services(tmp_path, stack)
    watch = FloodWatch(kept)
    for n in range(10):
        watch.note(f"loa-{n}", "event")
    assert len(watch._shed) == 3 and kept.counters.snapshot() == {"flood.untracked": 7}
    kept.db.engine.dispose()
