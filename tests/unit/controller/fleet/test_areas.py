"""The time zone the console shows a user's times in: their area's, inherited down the tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.db.models import Area
from controller.db.session import Database, migrate
from controller.fleet.areas import DEFAULT_TIMEZONE, zone_of

pytestmark = pytest.mark.unit


def test_a_users_zone_is_the_nearest_one_set_above_their_area(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'zones.sqlite3'}"
    migrate(url)
    db = Database(url)
    with db.session() as session:
        session.add_all([Area(id="tinh", name="Tỉnh", level="province", timezone="Asia/Ho_Chi_Minh"),
                         Area(id="xa", name="Xã", level="commune", parent_id="tinh"),
                         Area(id="dao", name="Đặc khu", level="commune", parent_id="tinh",
                              timezone="Asia/Bangkok"),
                         Area(id="thon", name="Thôn", level="village", parent_id="dao")])
        session.flush()
        assert zone_of(session, "xa") == "Asia/Ho_Chi_Minh", "inherited from the province"
        assert zone_of(session, "thon") == "Asia/Bangkok", "the nearest area that sets one"
        assert zone_of(session, None) == DEFAULT_TIMEZONE, "the whole tree's user: the default zone"
    db.engine.dispose()
