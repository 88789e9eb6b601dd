"""A scheduled play that ended makes an incident naming the devices it reached that did not play it:
those that said they failed, missed or skipped it, and those that said nothing (not confirmed);
devices that played it, were preempted or stopped, or did not exist yet, are not named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.db.models import Area, Device, DeviceEvent, Occurrence
from controller.db.session import Database, migrate
from controller.notify.plays import ended, failures
from controller.notify.rules import Kind

pytestmark = pytest.mark.unit

START = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
START_MS = int(START.timestamp() * 1000)


def event(device_id: str, seq: int, kind: str, occurrence: str, after_s: float) -> DeviceEvent:
    return DeviceEvent(device_id=device_id, install_id="i", seq=seq, type=kind, signature="s",
                       occurred_at=START + timedelta(seconds=after_s), data={"occurrence": occurrence})


def test_an_ended_scheduled_play_names_the_devices_that_did_not_play_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'plays.sqlite3'}"
    migrate(url)
    db = Database(url)
    with db.session() as session:
        session.add(Area(id="xa-1", name="Xã Một", level="commune"))
        session.flush()
        session.add_all([Area(id="thon-1a", name="Thôn 1A", level="village", parent_id="xa-1"),
                         Area(id="thon-1b", name="Thôn 1B", level="village", parent_id="xa-1")])
        session.flush()
        before = START - timedelta(days=1)
        for device_id, area in (("loa-ok", "thon-1a"), ("loa-cut", "thon-1a"), ("loa-miss", "thon-1b"),
                                ("loa-mute", "thon-1b"), ("loa-retry", "thon-1b")):
            session.add(Device(id=device_id, name=f"Cụm {device_id}", area_id=area, latitude=18.7,
                               longitude=105.7, created_at=before))
        session.add(Device(id="loa-new", name="Cụm mới", area_id="thon-1b", latitude=18.7, longitude=105.7,
                           created_at=START + timedelta(hours=1)))
        session.add(Occurrence(id="o-1", area_id="xa-1", level="normal", start_ms=START_MS, duration_ms=5000,
                               source={}, max_lateness_ms=1000, issued_ms=START_MS, title="Tin sáng",
                               created_by="admin"))
        session.add_all([event("loa-ok", 1, "started", "o-1", 0), event("loa-ok", 2, "completed", "o-1", 5),
                         event("loa-cut", 1, "started", "o-1", 0), event("loa-cut", 2, "preempted", "o-1", 2),
                         event("loa-miss", 1, "missed", "o-1", 1), event("loa-retry", 1, "failed", "o-1", 0),
                         event("loa-retry", 2, "started", "o-1", 1),
                         event("loa-ok", 3, "failed", "o-other", 0)])
    with db.session() as session:
        assert ended(session, START_MS + 10_000) == [], "not before its end and the grace"
        occurrences = ended(session, START_MS + 60_000)
        assert [o.id for o in occurrences] == ["o-1"]
        [raised] = failures(session, occurrences)
    assert raised.kind == Kind.DELIVERY_FAILED and raised.subject == "o-1"
    assert raised.details["devices"] == {"loa-miss": "missed", "loa-mute": "no_receipt"}
    assert raised.area_ids == ["thon-1b"] and raised.title == "Tin sáng: 2/5"
    db.engine.dispose()
