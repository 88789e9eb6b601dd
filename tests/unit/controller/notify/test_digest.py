"""The daily digest: at the digest time in the area's time zone, one message per subscription and
day listing what is still open; nothing before its time, nothing twice, nothing late on a day that
had nothing broken at its time, and not on the day a subscription was made after its time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from controller.db.models import Area, Incident, NotificationMessage, NotificationSubscription, utcnow
from controller.db.session import Database, migrate
from controller.notify.digest import digest_time, prune, queue_digests
from controller.notify.incidents import Raised, open_incident, resolve_incident
from controller.notify.rules import Kind

pytestmark = pytest.mark.unit

SEVEN = time(7, 0)
DAY = datetime(2026, 12, 7, tzinfo=UTC)  # 07:00 in Hà Nội is 00:00 UTC
MADE = DAY - timedelta(days=2)


def database(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'digest.sqlite3'}"
    migrate(url)
    db = Database(url)
    with db.session() as session:
        session.add(Area(id="xa-1", name="Xã Một", level="commune", timezone="Asia/Ho_Chi_Minh"))
        session.flush()
        session.add(Area(id="thon-1a", name="Thôn 1A", level="village", parent_id="xa-1"))
        session.add(NotificationSubscription(area_id="xa-1", role="technician", channel="email",
                                             address="kt@xa.example.vn", created_by="admin", created_at=MADE))
    return db


def offline(db: Database, device_id: str) -> None:
    with db.session() as session:
        open_incident(session, Raised(Kind.DEVICE_OFFLINE, device_id, ["thon-1a"], device_id))


def digests(db: Database) -> list[NotificationMessage]:
    with db.session() as session:
        query = select(NotificationMessage).where(NotificationMessage.purpose == "digest")
        return list(session.scalars(query))


def queue(db: Database, now: datetime, force: bool = False) -> int:
    with db.session() as session:
        return queue_digests(session, SEVEN, now, force)


def test_the_digest_lists_what_is_still_open_once_a_day_from_its_local_time(tmp_path: Path) -> None:
    db = database(tmp_path)
    offline(db, "loa-cho")
    offline(db, "loa-dinh")
    with db.session() as session:
        resolve_incident(session, Kind.DEVICE_OFFLINE, "loa-dinh")
    assert queue(db, DAY - timedelta(minutes=1)) == 0, "06:59 in Hà Nội: not yet"
    assert queue(db, DAY + timedelta(minutes=1)) == 1
    assert queue(db, DAY + timedelta(hours=5)) == 0, "once a day"
    [digest] = digests(db)
    assert digest.status == "pending" and digest.dedupe_key.endswith(":2026-12-07")
    assert "loa-cho" in digest.body and "loa-dinh" not in digest.body and "+07:00" in digest.body
    assert [i["subject"] for i in digest.payload["incidents"]] == ["loa-cho"]
    assert queue(db, DAY + timedelta(days=1, minutes=1)) == 1, "the next day again"
    db.engine.dispose()


def test_a_day_with_nothing_open_at_its_time_sends_nothing_later_that_day(tmp_path: Path) -> None:
    db = database(tmp_path)
    assert queue(db, DAY + timedelta(minutes=1)) == 0
    offline(db, "loa-cho")
    assert queue(db, DAY + timedelta(hours=2)) == 0, "the incident's own message told it already"
    assert [d.status for d in digests(db)] == ["empty"]
    db.engine.dispose()


def test_a_subscription_made_after_the_time_has_its_first_digest_the_next_day(tmp_path: Path) -> None:
    db = database(tmp_path)
    with db.session() as session:
        session.scalars(select(NotificationSubscription)).one().created_at = DAY + timedelta(hours=1)
    offline(db, "loa-cho")
    assert queue(db, DAY + timedelta(hours=2)) == 0
    assert queue(db, DAY + timedelta(days=1, minutes=1)) == 1
    db.engine.dispose()


def test_a_forced_digest_is_sent_at_once_but_still_once_a_day(tmp_path: Path) -> None:
    db = database(tmp_path)
    offline(db, "loa-cho")
    assert queue(db, DAY - timedelta(hours=3), force=True) == 1
    assert queue(db, DAY - timedelta(hours=2), force=True) == 0
    db.engine.dispose()


def test_the_setting_reads_as_a_time_of_day() -> None:
    assert digest_time("07:00") == SEVEN and digest_time("23:45") == time(23, 45)


def test_old_messages_and_old_resolved_incidents_are_forgotten_and_open_ones_kept(tmp_path: Path) -> None:
    db = database(tmp_path)
    offline(db, "loa-cu")
    offline(db, "loa-van-mat")
    with db.session() as session:
        resolve_incident(session, Kind.DEVICE_OFFLINE, "loa-cu")
    with db.session() as session:
        prune(session, utcnow() + timedelta(seconds=1))
    with db.session() as session:
        assert [i.subject for i in session.scalars(select(Incident))] == ["loa-van-mat"], "still broken: kept"
        assert session.scalars(select(NotificationMessage)).all() == []
    db.engine.dispose()
