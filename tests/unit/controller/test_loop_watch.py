"""The loop watch says when the event loop stood still and what it was stuck in, and names a database
write held across an await."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from controller import audit
from controller.db.session import Database, migrate
from controller.loop_watch import HELD_S, STALL_S, LoopWatch

pytestmark = pytest.mark.unit


def stuck_in_a_blocking_call() -> None:
    time.sleep(STALL_S + 0.5)


async def test_a_blocked_loop_is_reported_with_where_it_stood(caplog: pytest.LogCaptureFixture) -> None:
    watch = LoopWatch(None)
    watching = asyncio.create_task(watch.run())
    await asyncio.sleep(0.3)
    with caplog.at_level(logging.WARNING, logger="controller.loop_watch"):
        stuck_in_a_blocking_call()
        await asyncio.sleep(0.5)
    watching.cancel()
    messages = [record.getMessage() for record in caplog.records]
    assert any("blocked" in m and "stuck_in_a_blocking_call" in m for m in messages), messages
    assert watch.stalls == 1 and watch.longest_stall_ms >= STALL_S * 1000, watch.figures()


async def test_a_loop_that_only_waits_reports_nothing(caplog: pytest.LogCaptureFixture) -> None:
    watch = LoopWatch(None)
    watching = asyncio.create_task(watch.run())
    with caplog.at_level(logging.WARNING, logger="controller.loop_watch"):
        await asyncio.sleep(STALL_S + 0.5)
    watching.cancel()
    assert caplog.records == [] and watch.figures() == {
        "stalls": 0, "longest_stall_ms": 0, "writes_held_across_awaits": 0}


async def test_a_write_held_across_an_await_is_named(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    migrate(url)
    db = Database(url)
    watch = LoopWatch(db.guard)
    watching = asyncio.create_task(watch.run())

    async def writes_then_awaits() -> None:
        with db.session() as session:
            audit.record(session, "test", "held", [])
            session.flush()
            await asyncio.sleep(HELD_S + 0.5)

    with caplog.at_level(logging.ERROR, logger="controller.loop_watch"):
        await writes_then_awaits()
    watching.cancel()
    db.engine.dispose()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1 and "writes_then_awaits" in messages[0], messages
    assert watch.writes_held_across_awaits == 1 and watch.stalls == 0
