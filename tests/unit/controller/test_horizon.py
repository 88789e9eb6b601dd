"""The horizon keeper's decisions: what it publishes again, and why."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from controller.db.models import Area, Occurrence
from controller.db.session import Database, migrate
from controller.fleet.horizon import Publication, parse_record, plan

pytestmark = pytest.mark.unit

HOUR_MS = 3600 * 1000
NOW = 1_800_000_000_000


@pytest.fixture
def services(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    migrate(url)
    db = Database(url)
    with db.session() as session:
        session.add(Area(id="tinh", name="Tỉnh", level="province", desired_version=1))
        session.add(Area(id="thon", name="Thôn", level="village", parent_id="tinh", desired_version=3))
        session.add(Area(id="moi", name="Mới", level="village", parent_id="tinh", desired_version=0))
    settings = SimpleNamespace(schedule_horizon_s=48 * 3600, desired_ttl_s=30 * 24 * 3600)
    yield SimpleNamespace(db=db, settings=settings)
    db.engine.dispose()


def add_occurrence(services: Any, area_id: str, start_ms: int) -> None:
    with services.db.session() as session:
        session.add(Occurrence(
            id=f"o-{area_id}-{start_ms}", area_id=area_id, level="normal", start_ms=start_ms,
            duration_ms=60_000, source={"type": "tone", "frequency_hz": 440}, max_lateness_ms=60_000,
            issued_ms=NOW, created_by="test"))


def fresh(horizon_end_ms: int = NOW + 48 * HOUR_MS, published_ms: int = NOW) -> Publication:
    return Publication(horizon_end_ms, published_ms)


def test_nothing_to_do_when_every_publication_is_current(services: Any) -> None:
    add_occurrence(services, "thon", NOW + 47 * HOUR_MS)
    result = plan(services, {"area:tinh": fresh(), "area:thon": fresh()}, NOW)
    assert result.stale == [] and result.gone == []


def test_an_occurrence_entering_the_horizon_makes_its_area_stale(services: Any) -> None:
    add_occurrence(services, "thon", NOW + 50 * HOUR_MS)
    records = {"area:tinh": fresh(), "area:thon": fresh()}
    assert plan(services, records, NOW).stale == []  # still beyond the horizon
    assert plan(services, records, NOW + 3 * HOUR_MS).stale == ["area:thon"]


def test_a_publication_half_way_to_expiry_is_renewed(services: Any) -> None:
    old = fresh(published_ms=NOW - 16 * 24 * HOUR_MS)
    assert plan(services, {"area:tinh": old, "area:thon": fresh()}, NOW).stale == ["area:tinh"]


def test_a_target_without_a_record_is_published_and_records_of_gone_targets_are_dropped(
        services: Any) -> None:
    result = plan(services, {"area:thon": fresh(), "area:xoa": fresh(), "device:loa-xoa": None}, NOW)
    assert result.stale == ["area:tinh"]  # "moi" has never been published (version 0): nothing to renew
    assert result.gone == ["area:xoa", "device:loa-xoa"]


@pytest.mark.parametrize("raw", [b"", b"12", b"a b", b"1 2 3", "x", b"\xff\xfe 1"])
def test_unreadable_records_count_as_missing(raw: bytes | str) -> None:
    assert parse_record(raw) is None


def test_a_record_reads_back() -> None:
    assert parse_record(b"200 100") == Publication(200, 100)
    assert parse_record(b"200 100 0123456789abcdef") == Publication(200, 100, "0123456789abcdef")


def test_a_state_signed_by_another_key_is_published_again(services: Any) -> None:
    """After a rotation, retained states signed by the old key are replaced (a board that starts
    afresh would otherwise meet a state signed by a key perhaps revoked since)."""
    current, old = "0123456789abcdef", "fedcba9876543210"
    records = {"area:tinh": Publication(NOW + 48 * HOUR_MS, NOW, current),
               "area:thon": Publication(NOW + 48 * HOUR_MS, NOW, old)}
    assert plan(services, records, NOW, current).stale == ["area:thon"]
    unknown = {"area:tinh": fresh(), "area:thon": Publication(NOW + 48 * HOUR_MS, NOW, current)}
    assert plan(services, unknown, NOW, current).stale == ["area:tinh"], "a record without a key is old"
