"""No database write is held across an await: a second writer on the holder's thread fails at once,
naming where the holder began, instead of stopping the event loop for SQLite's busy timeout."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from controller import audit
from controller.db.models import AuditEntry
from controller.db.session import Database, migrate
from controller.db.write_guard import WriteHeld

pytestmark = pytest.mark.unit


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    migrate(url)
    database = Database(url)
    yield database
    database.engine.dispose()


def entries(db: Database) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def holder_that_flushes_first(db: Database) -> None:
    """Named so that the refusal can be seen to name it."""
    with db.session() as holder:
        audit.record(holder, "test", "first", [])
        holder.flush()
        with pytest.raises(WriteHeld, match="holder_that_flushes_first"), db.session() as second:
            audit.record(second, "test", "second", [])
    assert entries(db) == ["first"], "the holder's write is kept; the refused one is not"


def test_a_second_write_on_the_holders_thread_fails_at_once_naming_the_holder(db: Database) -> None:
    began = time.monotonic()
    holder_that_flushes_first(db)
    assert time.monotonic() - began < 5, "refused at once, not after SQLite's 15 s busy timeout"
    with db.session() as after:
        audit.record(after, "test", "after", [])
    assert entries(db) == ["first", "after"], "once the holder commits, anyone writes"


async def test_a_task_that_awaits_inside_its_write_makes_the_next_writer_fail_not_the_loop_stop(
        db: Database) -> None:
    flushed, refusals = asyncio.Event(), []

    async def holds_across_an_await() -> None:
        with db.session() as session:
            audit.record(session, "test", "held", [])
            session.flush()
            flushed.set()
            await asyncio.sleep(0.05)  # a Redis call, a broker's acknowledgement

    async def writes_meanwhile() -> None:
        await flushed.wait()
        try:
            with db.session() as session:
                audit.record(session, "test", "meanwhile", [])
        except WriteHeld as refusal:
            refusals.append(str(refusal))

    await asyncio.wait_for(asyncio.gather(holds_across_an_await(), writes_meanwhile()), 5)
    assert len(refusals) == 1 and "holds_across_an_await" in refusals[0], refusals
    assert entries(db) == ["held"]


def test_an_update_statement_counts_as_a_write(db: Database) -> None:
    with db.session() as session:
        audit.record(session, "test", "first", [])
    with db.session() as holder:
        holder.execute(update(AuditEntry).values(actor="changed"))
        with pytest.raises(WriteHeld), db.session() as second:
            audit.record(second, "test", "second", [])


def test_reading_beside_a_write_is_allowed(db: Database) -> None:
    with db.session() as holder:
        audit.record(holder, "test", "first", [])
        holder.flush()
        with db.session() as reader:
            assert reader.scalar(select(func.count()).select_from(AuditEntry)) == 0, "not committed yet"


def test_a_write_rolled_back_is_no_longer_held(db: Database) -> None:
    with pytest.raises(ValueError), db.session() as failing:
        audit.record(failing, "test", "lost", [])
        failing.flush()
        raise ValueError("the use case failed")
    assert db.guard is not None and db.guard.held_on(threading.get_ident()) == []
    with db.session() as after:
        audit.record(after, "test", "after", [])
    assert entries(db) == ["after"]


def test_a_writer_on_another_thread_waits_for_the_holder(db: Database) -> None:
    """Another thread's holder can commit while this one waits: that wait is SQLite's, not refused."""
    flushed, release = threading.Event(), threading.Event()

    def hold_in_a_thread() -> None:
        with db.session() as session:
            audit.record(session, "test", "thread", [])
            session.flush()
            flushed.set()
            release.wait(5)

    worker = threading.Thread(target=hold_in_a_thread)
    worker.start()
    assert flushed.wait(5)
    threading.Timer(0.3, release.set).start()
    with db.session() as session:
        audit.record(session, "test", "main", [])
    worker.join(5)
    assert entries(db) == ["thread", "main"]
