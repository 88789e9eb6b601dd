"""A birth is trusted only about its device's own chain, read from the controller's records; what a
device sends is classed for its limits by topic."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.db.models import Area
from controller.db.session import Database, migrate
from controller.mqtt.bridge import DEVICE_LIMITS, kept_class, own_chain, sheddable
from loalang_protocol import topics

pytestmark = pytest.mark.unit


def test_the_chain_is_the_area_and_those_above_it_with_their_versions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chain.sqlite3'}"
    migrate(url)
    db = Database(url)
    with db.session() as session:
        session.add_all([Area(id="tinh", name="T", level="province", desired_version=4),
                         Area(id="xa", name="X", level="commune", parent_id="tinh", desired_version=2),
                         Area(id="thon", name="Th", level="village", parent_id="xa"),
                         Area(id="xa-khac", name="K", level="commune", parent_id="tinh", desired_version=9)])
    with db.session() as session:
        assert own_chain(session, "thon") == {"thon": 0, "xa": 2, "tinh": 4}
        assert own_chain(session, "khong-co") == {}
    db.engine.dispose()


def test_every_topic_a_device_publishes_has_a_limit() -> None:
    kept = {kept_class(topics.device("loa-1", leaf)) for leaf in topics.DEVICE_PUBLISHES} - {None}
    shed = {sheddable(topics.device("loa-1", leaf)) for leaf in topics.DEVICE_PUBLISHES} - {None}
    assert kept == set(DEVICE_LIMITS) and shed == {"telemetry", "clock"}
    assert len(kept) + len(shed) == len(topics.DEVICE_PUBLISHES)
    assert kept_class("loa/v1/area/xa/desired") is None
