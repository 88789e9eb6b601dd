"""Incidents are kept once and told once per subscription: the same cause seen again (after a
restart, or by a second controller on the same database) queues nothing more; a lasting one that is
resolved can open again; a one-off one never does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from controller.db.models import Area, Incident, NotificationMessage, NotificationSubscription
from controller.db.session import Database, migrate
from controller.notify.incidents import Raised, open_incident, resolve_incident
from controller.notify.rules import Kind

pytestmark = pytest.mark.unit

OFFLINE = Raised(Kind.DEVICE_OFFLINE, "loa-cho", ["thon-1a"], "Cụm loa chợ (Thôn 1A)",
                 {"device_id": "loa-cho"})


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    """A migrated database with a province, two communes, a village each, and four subscriptions."""
    address = f"sqlite:///{tmp_path / 'notify.sqlite3'}"
    migrate(address)
    db = Database(address)
    with db.session() as session:
        session.add(Area(id="tinh", name="Tỉnh", level="province", timezone="Asia/Ho_Chi_Minh"))
        session.flush()
        for commune, village in (("xa-1", "thon-1a"), ("xa-2", "thon-2a")):
            session.add(Area(id=commune, name=commune, level="commune", parent_id="tinh"))
            session.flush()
            session.add(Area(id=village, name=f"Thôn {village[-2:].upper()}", level="village",
                             parent_id=commune))
        session.flush()
        for area, role, channel in (("xa-1", "technician", "email"), ("xa-1", "technician", "webhook"),
                                    ("xa-1", "operator", "email"), ("xa-2", "technician", "email")):
            session.add(NotificationSubscription(area_id=area, role=role, channel=channel, address="x",
                                                 created_by="admin"))
    db.engine.dispose()
    yield address


def counts(db: Database) -> tuple[int, int]:
    with db.session() as session:
        return (session.scalar(select(func.count()).select_from(Incident)) or 0,
                session.scalar(select(func.count()).select_from(NotificationMessage)) or 0)


def test_a_cause_seen_by_two_controllers_is_one_incident_told_once_per_subscription(url: str) -> None:
    first, second = Database(url), Database(url)
    with first.session() as session:
        opened = open_incident(session, OFFLINE)
        assert opened is not None and opened.details["area_names"] == ["Thôn 1A"]
    with second.session() as session:
        assert open_incident(session, OFFLINE) is None, "the other controller sees it open"
    assert counts(first) == (1, 2), "the two technician subscriptions of the commune, not the operator's"
    with first.session() as session:
        messages = session.scalars(select(NotificationMessage)).all()
        assert {m.purpose for m in messages} == {"opened"}
        assert all("Cụm loa mất kết nối" in m.subject and "+07:00" in m.body for m in messages)
    first.engine.dispose()
    second.engine.dispose()


def test_a_resolved_incident_is_told_once_and_the_same_cause_later_opens_a_new_one(url: str) -> None:
    db = Database(url)
    with db.session() as session:
        open_incident(session, OFFLINE)
    with db.session() as session:
        assert resolve_incident(session, Kind.DEVICE_OFFLINE, "loa-cho") is not None
    with db.session() as session:
        assert resolve_incident(session, Kind.DEVICE_OFFLINE, "loa-cho") is None, "resolved once"
    assert counts(db) == (1, 4)
    with db.session() as session:
        assert open_incident(session, OFFLINE) is not None, "offline again: a new incident"
    assert counts(db) == (2, 6)
    db.engine.dispose()


def test_a_one_off_incident_is_told_once_for_ever_and_is_not_open(url: str) -> None:
    db = Database(url)
    failed = Raised(Kind.DELIVERY_FAILED, "bc-1", ["thon-1a", "thon-2a"], "Tin: 2/5", {"devices": {}})
    with db.session() as session:
        incident = open_incident(session, failed)
        assert incident is not None and incident.resolved_at is not None
    with db.session() as session:
        assert open_incident(session, failed) is None
        assert resolve_incident(session, Kind.DELIVERY_FAILED, "bc-1") is None
    assert counts(db) == (1, 4), "both communes' technicians and the first commune's operator"
    db.engine.dispose()


def test_an_incident_outside_every_subscription_is_kept_but_told_to_nobody(url: str) -> None:
    db = Database(url)
    alert = Raised(Kind.CAP_ALERT, "client:kttv:s:1", ["thon-2a"], "Lũ quét (emergency)")
    with db.session() as session:
        assert open_incident(session, alert) is not None
    assert counts(db) == (1, 0), "no admin, operator or viewer subscribed to the second commune"
    db.engine.dispose()
