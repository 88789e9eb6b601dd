"""The rules table: what the docs show is what the code decides, and its cells say what they must."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from controller.airtime import rules
from controller.airtime.rules import Command, Level, Reach, Road, Verdict
from controller.security.roles import Role

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[4] / "docs" / "airtime.md"


def test_the_docs_show_the_table_the_code_uses() -> None:
    shown = re.search(r"<!-- rules:begin -->\n(.*)<!-- rules:end -->", DOC.read_text(), re.S)
    assert shown is not None, "docs/airtime.md lost its rules markers"
    assert shown.group(1) == rules.markdown(), (
        "docs/airtime.md differs from controller/airtime/rules.py: paste the output of "
        "python -c 'from controller.airtime.rules import markdown; print(markdown())'")


def test_nobody_but_admins_and_operators_puts_programmes_on_the_air() -> None:
    for role in (Role.APPROVER, Role.TECHNICIAN, Role.VIEWER, Role.ALERT):
        for road in (Road.BROADCAST, Road.LIVE, Road.SCHEDULE, Road.OCCURRENCE):
            assert {rules.verdict(role, road, level) for level in Level} <= {Verdict.NO, None}, (role, road)


def test_emergency_and_live_are_confirmed_on_every_road_but_the_warning_centres() -> None:
    for role in (Role.ADMIN, Role.OPERATOR):
        for road in (Road.BROADCAST, Road.LIVE, Road.SCHEDULE, Road.OCCURRENCE):
            for level in (Level.LIVE, Level.EMERGENCY):
                assert rules.verdict(role, road, level) in (Verdict.CONFIRM, Verdict.NO, None)
    assert rules.verdict(Role.ALERT, Road.ALERT, Level.EMERGENCY) is Verdict.YES


def test_technicians_sound_one_device_at_a_time_and_never_stop_the_air() -> None:
    assert rules.command_allowed(Role.TECHNICIAN, Reach.DEVICE, Command.TEST_TONE)
    for command in rules.SOUNDING_COMMANDS | {Command.STOP}:
        assert not rules.command_allowed(Role.TECHNICIAN, Reach.AREA, command)
    assert not rules.command_allowed(Role.TECHNICIAN, Reach.DEVICE, Command.STOP)
    assert not any(rules.command_allowed(Role.VIEWER, reach, c) for reach in Reach for c in Command)


def test_an_unknown_role_or_level_is_a_no() -> None:
    assert rules.verdict("root", Road.BROADCAST, "normal") is Verdict.NO
    assert rules.verdict("admin", Road.BROADCAST, "loud") is None
    assert not rules.command_allowed("root", Reach.DEVICE, Command.PING)
