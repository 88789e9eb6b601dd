"""The rules of who is told: each role's kinds (the table docs/notifications.md shows), narrowing to
chosen kinds, and an area's subscription covering everything below it."""

from __future__ import annotations

import pytest

from controller.fleet.areas import subtree
from controller.notify.rules import ROLE_KINDS, Kind, covers, kinds_for, wants
from controller.security.roles import USER_ROLES

pytestmark = pytest.mark.unit

PARENTS: dict[str, str | None] = {"tinh": None, "xa-1": "tinh", "thon-1a": "xa-1", "xa-2": "tinh",
                                  "thon-2a": "xa-2"}


@pytest.mark.parametrize(("role", "kind", "told"), [
    ("admin", Kind.DEVICE_OFFLINE, True), ("admin", Kind.CAP_ALERT, True),
    ("technician", Kind.DEVICE_OFFLINE, True), ("technician", Kind.AMPLIFIER_SILENT, True),
    ("technician", Kind.DELIVERY_FAILED, True), ("technician", Kind.CAP_ALERT, False),
    ("technician", Kind.WRONG_AUDIO, True),
    ("operator", Kind.DELIVERY_FAILED, True), ("operator", Kind.DEVICE_OFFLINE, False),
    ("operator", Kind.AMPLIFIER_SILENT, True), ("operator", Kind.WRONG_AUDIO, True),
    ("approver", Kind.CAP_ALERT, True), ("approver", Kind.DELIVERY_FAILED, False),
    ("viewer", Kind.CAP_ALERT, True), ("viewer", Kind.DEVICE_OFFLINE, False),
    ("alert", Kind.CAP_ALERT, False), ("stranger", Kind.DEVICE_OFFLINE, False),
])
def test_each_role_is_told_of_its_own_kinds(role: str, kind: Kind, told: bool) -> None:
    assert wants(role, [], kind) is told


def test_every_user_role_has_a_row_in_the_table() -> None:
    assert set(ROLE_KINDS) == {role.value for role in USER_ROLES}


def test_chosen_kinds_narrow_a_role_and_never_widen_it() -> None:
    assert kinds_for("technician", ["device_offline"]) == {Kind.DEVICE_OFFLINE}
    assert wants("technician", ["device_offline"], Kind.DELIVERY_FAILED) is False
    assert kinds_for("operator", ["device_offline"]) == set(), "an operator is never told of offline clusters"
    assert kinds_for("admin", ["no-such-kind"]) == ROLE_KINDS["admin"], "unknown names choose nothing"


@pytest.mark.parametrize(("area", "incident_areas", "told"), [
    ("xa-1", ["thon-1a"], True), ("xa-1", ["xa-1"], True), ("xa-1", ["thon-2a"], False),
    ("xa-1", ["thon-2a", "thon-1a"], True), ("thon-1a", ["xa-1"], False), ("tinh", ["thon-2a"], True),
    (None, ["thon-2a"], True), ("xa-1", [], False),
])
def test_an_areas_subscription_covers_it_and_everything_below(area: str | None, incident_areas: list[str],
                                                              told: bool) -> None:
    below = subtree(PARENTS, area) if area is not None else None
    assert covers(area, below, incident_areas) is told
