"""The scheduler fence: a writer with an older epoch is refused, so a paused old leader cannot write;
and a Redis that came back empty neither holds a new leader back nor hides a change."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis.asyncio import Redis

from controller.db.models import SchedulerFence
from controller.db.session import Database, migrate
from controller.scheduling.leader import Leadership, Superseded, fence, fence_reader
from controller.scheduling.scheduler import CHANGES_KEY, note_change
from tests.testkit import Stack

pytestmark = pytest.mark.unit


def test_an_older_epoch_is_refused_and_the_newer_holds(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fence.sqlite3'}"
    migrate(url)
    db = Database(url)
    with db.session() as session:
        fence(session, 4, "ctl-a")
    with db.session() as session:
        fence(session, 5, "ctl-b")  # a new leader
    with pytest.raises(Superseded, match="older"), db.session() as session:
        fence(session, 4, "ctl-a")  # the old one wakes up
    with db.session() as session:
        fence(session, 5, "ctl-b")  # the leader keeps writing
        row = session.get(SchedulerFence, 1)
        assert row is not None and (row.epoch, row.holder) == (5, "ctl-b")
    db.engine.dispose()


def test_after_redis_is_wiped_a_new_leader_takes_an_epoch_above_the_fence(
        stack: Stack, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fence.sqlite3'}"
    migrate(url)
    db = Database(url)
    with db.session() as session:
        fence(session, 6, "ctl-a")  # leaders came and went

    async def taken() -> int:
        redis = Redis(port=stack.redis_port, db=6)
        await redis.flushdb()
        leadership = Leadership(redis, "ctl-b", fence_reader(db))
        assert await leadership.step()
        epoch = leadership.epoch
        await leadership.resign()
        await redis.aclose()
        assert epoch is not None
        return epoch

    epoch = asyncio.run(taken())
    assert epoch == 7, "above the fence at once, not refused until the counter catches up"
    with db.session() as session:
        fence(session, epoch, "ctl-b")
    db.engine.dispose()


def test_a_change_noted_after_a_wipe_is_never_one_the_leader_has_seen(stack: Stack) -> None:
    async def scenario() -> tuple[object, object]:
        redis = Redis(port=stack.redis_port, db=6)
        await redis.flushdb()
        await note_change(redis)
        seen = await redis.get(CHANGES_KEY)  # what the leader expanded for
        await redis.flushdb()  # Redis came back empty
        await note_change(redis)  # a schedule made just after
        noted = await redis.get(CHANGES_KEY)
        await redis.aclose()
        return seen, noted

    seen, noted = asyncio.run(scenario())
    assert noted is not None and noted != seen
