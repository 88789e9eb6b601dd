"""Putting a broadcast on the air and closing delivery reports commit what they wrote before they
await anything (the feed, Redis, the broker): a write held across an await stops the controller at
the next write (controller/db/write_guard.py). Each awaited call here notes the writes held then."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from controller.airtime.service import Airtime
from controller.broadcasting import broadcasts, delivery, on_air, reports
from controller.db.models import Area, MediaItem
from controller.db.session import Database, migrate
from controller.fleet import desired
from controller.settings import Settings

pytestmark = pytest.mark.unit

SHA = "a" * 64
# one device missed it: the report then looks the device up, which writes what is pending first
STATES = {"loa-1": {"state": "completed"}, "loa-2": {"state": "missed"}}


class Awaits:
    """Stands in for what the use cases await; notes, at each await, the writes held on this thread."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.calls: list[tuple[str, int]] = []

    def stand_in(self, name: str, answer: Any = None) -> Any:
        async def awaited(*_args: Any, **_kwargs: Any) -> Any:
            assert self.db.guard is not None
            self.calls.append((name, len(self.db.guard.held_on(threading.get_ident()))))
            await asyncio.sleep(0)
            return answer
        return awaited


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    migrate(url)
    database = Database(url)
    with database.session() as session:
        session.add(Area(id="thon", name="Thôn", level="village", desired_version=1))
        session.add(MediaItem(sha256=SHA, title="Bản tin", kind="upload", duration_ms=5000, size=40_000,
                              created_by="admin"))
    yield database
    database.engine.dispose()


@pytest.fixture
def awaits(db: Database, monkeypatch: pytest.MonkeyPatch) -> Awaits:
    stand_ins = Awaits(db)
    monkeypatch.setattr(on_air, "announce", stand_ins.stand_in("feed"))
    monkeypatch.setattr(desired, "publish_targets", stand_ins.stand_in("broker"))
    monkeypatch.setattr(delivery, "begin", stand_ins.stand_in("delivery"))
    monkeypatch.setattr(delivery, "snapshot", stand_ins.stand_in("snapshot", STATES))
    monkeypatch.setattr(delivery, "tracked", stand_ins.stand_in("tracked", True))
    monkeypatch.setattr(reports, "raise_incident", stand_ins.stand_in("incident"))
    return stand_ins


def services_on(db: Database, awaits: Awaits) -> Any:
    presence = SimpleNamespace(online_among=awaits.stand_in("presence", set()))
    return SimpleNamespace(db=db, settings=Settings(environment="test"), presence=presence, redis=None)


def new_broadcast(db: Database, awaits: Awaits, airtime: Airtime, level: str = "normal") -> str:
    async def as_broadcast_now_does() -> str:
        with db.session() as session:
            item = session.get(MediaItem, SHA)
            broadcast = broadcasts.create(session, "admin", {
                "title": "Bản tin", "level": level, "area_ids": ["thon"], "device_ids": [],
                "max_lateness_ms": 60_000}, item, awaiting=False)
            session.flush()
            await airtime.start(session, broadcast)
            return broadcast.id
    return asyncio.run(as_broadcast_now_does())


def test_a_broadcast_goes_on_the_air_with_nothing_written_held_while_it_awaits(
        db: Database, awaits: Awaits) -> None:
    new_broadcast(db, awaits, Airtime(services_on(db, awaits), live=None))  # type: ignore[arg-type]
    assert {name for name, _ in awaits.calls} >= {"feed", "broker", "presence", "delivery"}, awaits.calls
    assert [(name, held) for name, held in awaits.calls if held] == [], awaits.calls


def test_reports_of_several_broadcasts_are_closed_with_nothing_written_held_while_they_await(
        db: Database, awaits: Awaits) -> None:
    services = services_on(db, awaits)
    airtime = Airtime(services, live=None)  # type: ignore[arg-type]
    made = [new_broadcast(db, awaits, airtime) for _ in range(3)]
    awaits.calls.clear()
    asyncio.run(reports.finish_reports(services))
    assert [name for name, _ in awaits.calls].count("snapshot") == 3, awaits.calls
    assert [(name, held) for name, held in awaits.calls if held] == [], awaits.calls
    with db.session() as session:
        from controller.db.models import Broadcast
        closed = {b.id: (b.status, b.report.get("devices")) for b in session.query(Broadcast)}
    assert closed == {broadcast_id: ("done", STATES) for broadcast_id in made}
    assert [name for name, _ in awaits.calls].count("incident") == 3, "each failed delivery is told"
