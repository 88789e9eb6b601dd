"""The scheduler fence: a writer with an older epoch is refused, so a paused old leader cannot write."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.db.models import SchedulerFence
from controller.db.session import Database, migrate
from controller.scheduling.leader import Superseded, fence


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
