"""Uptime from the presence log: one device over a window, many at once, and pruning that keeps the state."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.db.models import PresenceChange
from controller.db.session import Database, migrate
from controller.fleet.history import prune, uptime, uptime_percent

pytestmark = pytest.mark.unit

HOUR = 3_600_000


def database(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'history.sqlite3'}"
    migrate(url)
    return Database(url)


def log(db: Database, device_id: str, *changes: tuple[int, bool]) -> None:
    with db.session() as session:
        session.add_all(PresenceChange(device_id=device_id, online=online, at_ms=at_ms, reason="test")
                        for at_ms, online in changes)


def test_uptime_integrates_the_changes_inside_the_window_from_the_state_before_it(tmp_path: Path) -> None:
    db = database(tmp_path)
    log(db, "loa-a", (0, True), (10 * HOUR, False), (16 * HOUR, True))  # 6 h off in a day
    log(db, "loa-b", (30 * HOUR, True))  # came online late: off before
    with db.session() as session:
        day = uptime(session, "loa-a", 4 * HOUR, 28 * HOUR)
        assert day["online_s"] == 18 * 3600 and day["uptime_pct"] == 75.0 and day["changes"] == 2
        many = uptime_percent(session, {"loa-a": 4 * HOUR, "loa-b": 24 * HOUR, "loa-c": 0}, 36 * HOUR)
    assert many == {"loa-a": round(100 * 26 / 32, 1), "loa-b": 50.0, "loa-c": 0.0}
    db.engine.dispose()


def test_pruning_keeps_each_devices_last_state_so_a_long_steady_uptime_stays_whole(tmp_path: Path) -> None:
    db = database(tmp_path)
    log(db, "loa-a", (0, False), (HOUR, True))  # online ever since
    log(db, "loa-b", (0, True), (2 * HOUR, False))  # offline ever since
    with db.session() as session:
        prune(session, 100 * HOUR)
    with db.session() as session:
        assert session.query(PresenceChange).count() == 2
        assert uptime_percent(session, {"loa-a": 200 * HOUR, "loa-b": 200 * HOUR}, 300 * HOUR) == {
            "loa-a": 100.0, "loa-b": 0.0}
    db.engine.dispose()
