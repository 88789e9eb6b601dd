"""The rules of the air, as one table: who may make a loudspeaker speak, by which road, at which level.

A cell is `yes` (allowed), `confirm` (allowed once confirmed by the policy of the strictest target
area: the caller's password again, or a second approver) or `no`. A level a road does not carry is
absent from the table (the gate answers 422). Beside the table, the gate applies on every road:
every target area, device, file and bulletin must lie in the caller's scope; levels below live
need, on each target area that asks for approval (inherited), a bulletin an approver approved;
a quiet-hours override only by the roles that may; low-level occurrences only for admins of the
whole tree. docs/airtime.md shows this table (rendered by `markdown()`, checked by a test).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from ..security.roles import Role


class Road(StrEnum):
    """A way to the air."""

    BROADCAST = "broadcast"  # broadcast now: a library file, text spoken now, or an approved bulletin
    LIVE = "live"  # broadcast now from a live source: the console's microphone or a relayed station
    SCHEDULE = "schedule"  # a bulletin's schedule: its file's plays, or a relayed station's windows
    OCCURRENCE = "occurrence"  # one low-level play (POST /occurrences)
    ALERT = "alert"  # a CAP alert from a warning centre


class Level(StrEnum):
    """Playout levels, lowest first."""

    BACKGROUND = "background"
    NORMAL = "normal"
    PRIORITY = "priority"
    LIVE = "live"
    EMERGENCY = "emergency"


class Verdict(StrEnum):
    """What a cell of the table says."""

    NO = "no"
    YES = "yes"
    CONFIRM = "confirm"


class Command(StrEnum):
    """Signed commands a device carries out."""

    PING = "ping"
    RESYNC = "resync"
    UPLOAD_LOGS = "upload-logs"
    REBOOT = "reboot"
    STOP = "stop"
    TEST_TONE = "test-tone"
    CHIME = "chime"  # the device's own attention signal, about 1.7 s
    AMPLIFIER = "amplifier"


class Reach(StrEnum):
    """Where a command goes: one device, or every device of an area (published once)."""

    DEVICE = "device"
    AREA = "area"


LEVELS_ON: Mapping[Road, tuple[Level, ...]] = {
    Road.BROADCAST: (Level.NORMAL, Level.PRIORITY, Level.EMERGENCY),
    Road.LIVE: (Level.LIVE, Level.EMERGENCY),
    Road.SCHEDULE: (Level.BACKGROUND, Level.NORMAL, Level.PRIORITY, Level.EMERGENCY),
    Road.OCCURRENCE: tuple(Level),
    Road.ALERT: (Level.NORMAL, Level.PRIORITY, Level.EMERGENCY),
}

_PROGRAMME: Mapping[Level, Verdict] = {
    Level.BACKGROUND: Verdict.YES, Level.NORMAL: Verdict.YES, Level.PRIORITY: Verdict.YES,
    Level.LIVE: Verdict.CONFIRM, Level.EMERGENCY: Verdict.CONFIRM,
}
_WARNING_CENTRE: Mapping[Level, Verdict] = {
    Level.NORMAL: Verdict.YES, Level.PRIORITY: Verdict.YES, Level.EMERGENCY: Verdict.YES,
}

RULES: Mapping[Role, Mapping[Road, Mapping[Level, Verdict]]] = {
    Role.ADMIN: {Road.BROADCAST: _PROGRAMME, Road.LIVE: _PROGRAMME, Road.SCHEDULE: _PROGRAMME,
                 Road.OCCURRENCE: _PROGRAMME},
    Role.OPERATOR: {Road.BROADCAST: _PROGRAMME, Road.LIVE: _PROGRAMME, Road.SCHEDULE: _PROGRAMME},
    # A warning centre's key and the scope an admin gave it are its confirmation: an alert that
    # waited for a second person would come too late. It plays through quiet hours.
    Role.ALERT: {Road.ALERT: _WARNING_CENTRE},
}

WHOLE_TREE_ONLY = frozenset({Road.OCCURRENCE})
APPROVAL_LEVELS = frozenset({Level.BACKGROUND, Level.NORMAL, Level.PRIORITY})
APPROVAL_ROADS = frozenset({Road.BROADCAST, Road.SCHEDULE, Road.OCCURRENCE})
QUIET_OVERRIDE_ROLES = frozenset({Role.ADMIN, Role.OPERATOR})
ALWAYS_OVERRIDES_QUIET = frozenset({Road.ALERT})

SOUNDING_COMMANDS = frozenset({Command.TEST_TONE, Command.CHIME, Command.AMPLIFIER})
CHIME_S = 2.0
MAX_TEST_TONE_S = 10.0
_EVERY_COMMAND = frozenset(Command)
COMMAND_RULES: Mapping[Role, Mapping[Reach, frozenset[Command]]] = {
    Role.ADMIN: {Reach.DEVICE: _EVERY_COMMAND, Reach.AREA: _EVERY_COMMAND},
    Role.OPERATOR: {Reach.DEVICE: _EVERY_COMMAND, Reach.AREA: _EVERY_COMMAND},
    # A technician checks one cluster at a time: a short tone, the chime, the relay, its logs; never an area.
    Role.TECHNICIAN: {Reach.DEVICE: frozenset({Command.PING, Command.RESYNC, Command.UPLOAD_LOGS,
                                               Command.REBOOT, Command.TEST_TONE, Command.CHIME,
                                               Command.AMPLIFIER}),
                      Reach.AREA: frozenset({Command.PING, Command.RESYNC})},
}


def verdict(role: str, road: Road, level: str) -> Verdict | None:
    """The cell for (role, road, level); None when the road does not carry that level."""
    if level not in LEVELS_ON[road]:
        return None
    try:
        by_road = RULES.get(Role(role), {})
    except ValueError:
        return Verdict.NO
    return by_road.get(road, {}).get(Level(level), Verdict.NO)


def command_allowed(role: str, reach: Reach, command: Command) -> bool:
    """Whether role may send command to one device or to an area."""
    try:
        return command in COMMAND_RULES.get(Role(role), {}).get(reach, frozenset())
    except ValueError:
        return False


def markdown() -> str:
    """The tables as the docs show them."""
    lines = ["| role | road | " + " | ".join(level.value for level in Level) + " |",
             "|---|---|" + "---|" * len(Level)]
    for role in Role:
        for road in Road:
            cells = [(verdict(role, road, level) or "-") for level in Level]
            lines.append(f"| {role.value} | {road.value} | " + " | ".join(cells) + " |")
    lines += ["", "| role | " + " | ".join(f"{reach.value} commands" for reach in Reach) + " |",
              "|---|" + "---|" * len(Reach)]
    for role in Role:
        cells = [", ".join(c.value for c in Command if command_allowed(role, reach, c)) or "none"
                 for reach in Reach]
        lines.append(f"| {role.value} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
