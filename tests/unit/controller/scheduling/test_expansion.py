"""Schedule expansion: each play for each target is one occurrence with a stable id, written once;
only future occurrences are withdrawn, and each target whose set changed is named once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from controller.db.models import Area, Bulletin, Device, MediaItem, Occurrence, Schedule
from controller.db.session import Database, migrate
from controller.scheduling.expansion import AHEAD_MS, apply, occurrence_id, planned
from controller.scheduling.leader import Superseded

pytestmark = pytest.mark.unit

DAY_MS = 86_400_000
SHA = "ab" * 32


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


NOW = ms("2026-12-01T00:00")  # the first daily play, 06:00 in Vietnam, is 23:00 UTC the evening before


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'expansion.sqlite3'}"
    migrate(url)
    database = Database(url)
    with database.session() as session:
        session.add(Area(id="xa", name="Xã", level="commune", desired_version=1))
        session.add(Device(id="loa-1", name="Loa 1", area_id="xa", latitude=21.0, longitude=105.8,
                           desired_version=1))
        session.add(MediaItem(sha256=SHA, title="Tin sáng", kind="audio", duration_ms=90_000, size=4_000,
                              created_by="op"))
        session.flush()
        session.add(Bulletin(id="b-1", title="Tin sáng", level="normal", media_sha256=SHA, area_id="xa",
                             status="approved", created_by="op"))
        session.flush()
        session.add(Schedule(id="s-1", bulletin_id="b-1", kind="daily", start_local="2026-12-01T06:00:00",
                             timezone="Asia/Ho_Chi_Minh", area_ids=["xa"], device_ids=["loa-1"],
                             max_lateness_ms=60_000, created_by="op"))
    yield database
    database.engine.dispose()


def desired_versions(db: Database) -> tuple[int, int]:
    with db.session() as session:
        area, device = session.get(Area, "xa"), session.get(Device, "loa-1")
        assert area is not None and device is not None
        return area.desired_version, device.desired_version


def stored_starts(db: Database) -> list[int]:
    with db.session() as session:
        return sorted(session.scalars(select(Occurrence.start_ms).where(Occurrence.area_id == "xa")))


def test_each_play_for_each_target_is_one_occurrence_in_the_week_ahead(db: Database) -> None:
    with db.session() as session:
        wanted = planned(session, NOW)
    starts = sorted({row["start_ms"] for row in wanted.values()})
    assert starts == [ms("2026-12-01T23:00") + day * DAY_MS for day in range(7)]
    assert all(NOW <= start < NOW + AHEAD_MS for start in starts)
    assert len(wanted) == 2 * 7  # the area and the device, each play
    first = wanted[occurrence_id("s-1", "area:xa", starts[0])]
    assert (first["area_id"], first["device_id"], first["level"], first["duration_ms"]) == (
        "xa", None, "normal", 90_000)
    assert first["source"] == {"type": "media", "sha256": SHA, "size": 4_000}
    assert wanted[occurrence_id("s-1", "device:loa-1", starts[0])]["device_id"] == "loa-1"


def test_the_id_is_stable_and_differs_by_schedule_target_and_start() -> None:
    one = occurrence_id("s-1", "area:xa", NOW)
    assert one == occurrence_id("s-1", "area:xa", NOW)
    assert len({one, occurrence_id("s-2", "area:xa", NOW), occurrence_id("s-1", "device:xa", NOW),
                occurrence_id("s-1", "area:xa", NOW + 1)}) == 4


@pytest.mark.parametrize("change", ["inactive", "pending bulletin"])
def test_an_inactive_schedule_or_an_unapproved_bulletin_plans_nothing(db: Database, change: str) -> None:
    with db.session() as session:
        if change == "inactive":
            schedule = session.get(Schedule, "s-1")
            assert schedule is not None
            schedule.active = False
        else:
            bulletin = session.get(Bulletin, "b-1")
            assert bulletin is not None
            bulletin.status = "pending"
    with db.session() as session:
        assert planned(session, NOW) == {}


def test_expanding_again_writes_nothing_twice(db: Database) -> None:
    with db.session() as session:
        first = apply(session, planned(session, NOW), NOW, epoch=1, holder="ctl-a")
    assert (first.added, first.withdrawn, first.targets) == (14, 0, ["area:xa", "device:loa-1"])
    assert desired_versions(db) == (2, 2)  # one new version per changed target, not per occurrence
    with db.session() as session:
        again = apply(session, planned(session, NOW), NOW, epoch=1, holder="ctl-a")
    assert (again.added, again.withdrawn, again.targets) == (0, 0, [])
    assert desired_versions(db) == (2, 2)


def test_a_new_leaders_first_expansion_names_every_target_it_keeps(db: Database) -> None:
    with db.session() as session:
        apply(session, planned(session, NOW), NOW, epoch=1, holder="ctl-a")
    with db.session() as session:
        taken_over = apply(session, planned(session, NOW), NOW, epoch=2, holder="ctl-b", republish=True)
    assert (taken_over.added, taken_over.targets) == (0, ["area:xa", "device:loa-1"])


def test_only_future_occurrences_are_withdrawn(db: Database) -> None:
    with db.session() as session:
        apply(session, planned(session, NOW), NOW, epoch=1, holder="ctl-a")
    later = ms("2026-12-03T12:00")  # two plays are past
    with db.session() as session:
        schedule = session.get(Schedule, "s-1")
        assert schedule is not None
        schedule.active = False
    with db.session() as session:
        result = apply(session, planned(session, later), later, epoch=1, holder="ctl-a")
    assert (result.added, result.withdrawn) == (0, 2 * 5)
    assert stored_starts(db) == [ms("2026-12-01T23:00"), ms("2026-12-02T23:00")]
    assert desired_versions(db) == (3, 3)


def test_a_target_that_no_longer_exists_gets_nothing(db: Database) -> None:
    with db.session() as session:
        schedule = session.get(Schedule, "s-1")
        assert schedule is not None
        schedule.area_ids, schedule.device_ids = ["gone"], []
    with db.session() as session:
        wanted = planned(session, NOW)
        assert len(wanted) == 7  # planned for, but the area is not there
        result = apply(session, wanted, NOW, epoch=1, holder="ctl-a")
    assert (result.added, result.targets) == (0, [])


def test_an_older_leader_writes_nothing(db: Database) -> None:
    with db.session() as session:
        apply(session, {}, NOW, epoch=5, holder="ctl-b")
    with pytest.raises(Superseded), db.session() as session:
        apply(session, planned(session, NOW), NOW, epoch=4, holder="ctl-a")
    assert stored_starts(db) == []
