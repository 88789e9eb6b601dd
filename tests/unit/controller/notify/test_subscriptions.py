"""Subscriptions are an admin's within their scope: a commune's admin subscribes for their commune,
not another nor the whole tree; a role is given only kinds it is told of; a webhook gets a secret
and an e-mail none."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.db.models import Area
from controller.db.session import Database, migrate
from controller.errors import DomainError
from controller.notify import subscriptions
from controller.security.principal import Principal

pytestmark = pytest.mark.unit

COMMUNE_ADMIN = Principal(2, "qtv-xa-1", "admin", {"xa-1", "thon-1a"}, "xa-1")
WHOLE_TREE = Principal(1, "admin", "admin", None)


def database(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'subscriptions.sqlite3'}"
    migrate(url)
    db = Database(url)
    with db.session() as session:
        session.add(Area(id="tinh", name="Tỉnh", level="province"))
        session.flush()
        session.add_all([Area(id="xa-1", name="Xã 1", level="commune", parent_id="tinh"),
                         Area(id="xa-2", name="Xã 2", level="commune", parent_id="tinh")])
        session.flush()
        session.add(Area(id="thon-1a", name="Thôn 1A", level="village", parent_id="xa-1"))
    return db


def fields(**changes: object) -> dict[str, object]:
    return {"area_id": "thon-1a", "role": "technician", "channel": "webhook", "address": "https://x.vn/h",
            "kinds": [], **changes}


@pytest.mark.parametrize(("area", "code"), [("xa-2", "outside_scope"), (None, "whole_tree_only"),
                                            ("no-such-area", "unknown_area")])
def test_a_commune_admin_subscribes_only_inside_their_commune(tmp_path: Path, area: str | None,
                                                             code: str) -> None:
    db = database(tmp_path)
    with db.session() as session, pytest.raises(DomainError) as refused:
        subscriptions.create(session, COMMUNE_ADMIN, fields(area_id=area))
    assert (refused.value.code, refused.value.field) == (code, "area_id")
    db.engine.dispose()


def test_subscriptions_are_listed_and_removed_within_scope(tmp_path: Path) -> None:
    db = database(tmp_path)
    with db.session() as session:
        mine, secret = subscriptions.create(session, COMMUNE_ADMIN, fields())
        theirs, _ = subscriptions.create(session, WHOLE_TREE, fields(area_id="xa-2", channel="email",
                                                                      address="kt@xa2.example.vn"))
        assert len(secret) >= 32 and mine.secret == secret and theirs.secret == ""
        assert [s.id for s in subscriptions.visible(session, COMMUNE_ADMIN)] == [mine.id]
        assert len(subscriptions.visible(session, WHOLE_TREE)) == 2
        with pytest.raises(DomainError, match="no such subscription"):
            subscriptions.remove(session, COMMUNE_ADMIN, theirs.id)
        subscriptions.remove(session, COMMUNE_ADMIN, mine.id)
        assert subscriptions.visible(session, COMMUNE_ADMIN) == []
    db.engine.dispose()


def test_a_role_is_given_only_the_kinds_it_is_told_of(tmp_path: Path) -> None:
    db = database(tmp_path)
    with db.session() as session:
        with pytest.raises(DomainError) as refused:
            subscriptions.create(session, COMMUNE_ADMIN, fields(role="operator", kinds=["device_offline"]))
        assert (refused.value.code, refused.value.field) == ("notify_kind_not_for_role", "kinds")
        made, _ = subscriptions.create(session, COMMUNE_ADMIN, fields(kinds=["device_offline"]))
        assert made.kinds == ["device_offline"]
    db.engine.dispose()
