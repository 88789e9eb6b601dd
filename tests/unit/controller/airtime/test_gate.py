"""The gate over a real (migrated SQLite) database: decisions cell by cell, and a property: whatever
principal, scope, targets and level are asked, no grant lets audio reach a device outside scope."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.airtime import gate, rules
from controller.airtime.gate import Ask, Refused
from controller.airtime.rules import Level, Reach, Road, Verdict
from controller.db.models import Area, Bulletin, Device, MediaItem, User
from controller.db.session import Database, migrate
from controller.fleet.areas import parent_map, subtree
from controller.security.passwords import hash_password, verify_password
from controller.security.principal import Principal
from controller.security.roles import Role

pytestmark = pytest.mark.unit

PASSWORD = "a-strong-password"
TREE = {"tinh": None, "xa-1": "tinh", "thon-1a": "xa-1", "thon-1b": "xa-1", "xa-2": "tinh", "thon-2a": "xa-2"}
DEVICES = {"loa-1a": "thon-1a", "loa-1b": "thon-1b", "loa-2a": "thon-2a", "loa-x1": "xa-1"}
QUIET_NEVER = {"quiet_start": "00:00", "quiet_end": "00:00"}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path_factory.mktemp('gate') / 'gate.sqlite3'}"
    migrate(url)
    database = Database(url)
    with database.session() as session:
        for area_id, parent in TREE.items():
            extra = QUIET_NEVER if parent is None else {}
            session.add(Area(id=area_id, name=area_id, parent_id=parent, level="x", **extra))
            session.flush()
        for device_id, area_id in DEVICES.items():
            session.add(Device(id=device_id, name=device_id, area_id=area_id, latitude=18.7, longitude=105.7))
        session.add(User(id=1, username="u", password_hash=hash_password(PASSWORD), role="admin"))
        session.add(MediaItem(sha256="a" * 64, title="t", kind="upload", duration_ms=1000, size=10,
                              area_id="xa-2", created_by="u"))
    yield database
    database.engine.dispose()


def who(role: str, area: str | None, user: bool = True) -> Principal:
    scope = None if area is None else subtree(TREE, area)
    return Principal(1 if user else None, f"{role}@{area}", role, scope, area)


def test_each_cell_of_the_table_decides(db: Database) -> None:
    """Every (role, road, level) at the whole tree: the gate says what the table says."""
    with db.session() as session:
        for role in Role:
            for road in Road:
                for level in Level:
                    ask = Ask(who(role, None), road, level, area_ids=("thon-1a",), confirm_password=PASSWORD)
                    cell = rules.verdict(role, road, level)
                    if cell in (None, Verdict.NO):
                        with pytest.raises(Refused) as refused:
                            gate.check(session, ask)
                        expected = "level_not_on_road" if cell is None else "role_not_allowed"
                        assert refused.value.code == expected, (role, road, level)
                    else:
                        grant = gate.check(session, ask)
                        assert grant.confirmed_by_password == (cell is Verdict.CONFIRM), (role, road, level)


def test_confirmation_is_asked_and_the_password_to_verify_given(db: Database) -> None:
    with db.session() as session:
        with pytest.raises(Refused) as refused:
            gate.check(session, Ask(who("operator", "xa-1"), Road.BROADCAST, "emergency",
                                    area_ids=("thon-1a",)))
        assert refused.value.code == "confirmation_required" and refused.value.field == "confirm_password"
        # the airtime service verifies the password, off the event loop and within the limit
        grant = gate.check(session, Ask(who("operator", "xa-1"), Road.BROADCAST, "emergency",
                                        area_ids=("thon-1a",), confirm_password="wrong"))
        assert grant.confirmed_by_password and grant.password_hash is not None
        assert verify_password(grant.password_hash, PASSWORD)
        assert not verify_password(grant.password_hash, "wrong")
        with pytest.raises(Refused) as refused:
            gate.check(session, Ask(who("operator", "xa-1", user=False), Road.LIVE, "live",
                                    area_ids=("xa-1",)))
        assert refused.value.code == "password_confirmation_impossible"


def test_a_file_of_another_commune_is_outside_scope(db: Database) -> None:
    with db.session() as session, pytest.raises(Refused) as refused:
        gate.check(session, Ask(who("operator", "xa-1"), Road.BROADCAST, "normal", area_ids=("thon-1a",),
                                media_sha256="a" * 64))
    assert refused.value.code == "outside_scope" and refused.value.field == "media_sha256"


def test_technicians_may_not_override_quiet_hours_nor_sound_an_area(db: Database) -> None:
    technician = who("technician", "xa-1")
    with db.session() as session:
        reached = gate.check_command(session, technician, Reach.DEVICE, "loa-1a", "test-tone", 2, False)
        assert reached == ["thon-1a"]
        for reach, target, name, seconds, override, code in (
                (Reach.AREA, "xa-1", "test-tone", 2, False, "role_not_allowed"),
                (Reach.DEVICE, "loa-1a", "test-tone", 2, True, "quiet_override_not_allowed"),
                (Reach.DEVICE, "loa-1a", "test-tone", 60, False, "test_tone_too_long"),
                (Reach.DEVICE, "loa-2a", "test-tone", 2, False, "outside_scope"),
                (Reach.DEVICE, "loa-1a", "sing", None, False, "unknown_command")):
            with pytest.raises(Refused) as refused:
                gate.check_command(session, technician, reach, target, name, seconds, override)
            assert refused.value.code == code, (reach, target, name)


def test_approval_is_checked_on_every_target_area(db: Database) -> None:
    with db.session() as session:
        village = session.get(Area, "thon-1b")
        assert village is not None
        village.approval = "required"
        session.add(Bulletin(id="b-self", title="t", level="normal", media_sha256="a" * 64, area_id="xa-1",
                             status="approved", created_by="op", decided_by="op", reviewed=False))
        session.flush()
        ask = Ask(who("admin", None), Road.BROADCAST, "normal", area_ids=("thon-1b",), bulletin_id="b-self")
        commune_wide = Ask(who("admin", None), Road.BROADCAST, "normal", area_ids=("xa-1",),
                           bulletin_id="b-self")
        for asked in (ask, commune_wide):
            with pytest.raises(Refused) as refused:
                gate.check(session, asked)
            assert refused.value.code == "approval_required", asked
        bulletin = session.get(Bulletin, "b-self")
        assert bulletin is not None
        bulletin.reviewed = True
        assert gate.check(session, ask).areas == ("thon-1b",)
        assert gate.check(session, commune_wide).areas == ("thon-1a", "thon-1b", "xa-1")
        session.rollback()


areas_or_devices = st.sampled_from(sorted(TREE) + sorted(DEVICES))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(role=st.sampled_from(list(Role)), home=st.sampled_from([None, *sorted(TREE)]),
       road=st.sampled_from(list(Road)), level=st.sampled_from(list(Level)),
       targets=st.lists(areas_or_devices, min_size=0, max_size=4), override=st.booleans())
def test_no_grant_reaches_a_device_outside_the_callers_scope(
        db: Database, role: str, home: str | None, road: Road, level: Level, targets: list[str],
        override: bool) -> None:
    principal = who(role, home)
    area_ids = tuple(t for t in targets if t in TREE)
    device_ids = tuple(t for t in targets if t in DEVICES)
    ask = Ask(principal, road, level, area_ids=area_ids, device_ids=device_ids, quiet_override=override,
              confirm_password=PASSWORD)
    with db.session() as session:
        try:
            gate.check(session, ask)
        except Refused:
            return
        parents = parent_map(session)
    reached = {d for d, area in DEVICES.items() if any(area in subtree(parents, a) for a in area_ids)}
    reached |= set(device_ids)
    assert all(principal.can_see(DEVICES[device]) for device in reached), (principal, area_ids, device_ids)
    assert rules.verdict(role, road, level) in (Verdict.YES, Verdict.CONFIRM)
    assert principal.scope is None or road not in rules.WHOLE_TREE_ONLY
