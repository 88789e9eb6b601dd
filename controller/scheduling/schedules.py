"""Schedules: a bulletin's recurrence and targets, checked against scope and quiet hours.

A schedule's times are wall-clock times of the bulletin's area. Plays that would fall into the
quiet hours of a target are refused unless the operator overrides them explicitly; the override
is audited and travels, signed, with every occurrence (the agents honour it).
"""

from __future__ import annotations

import secrets
import time
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from .. import audit
from ..db.models import Area, Bulletin, Device, Schedule
from ..fleet.areas import DEFAULT_TIMEZONE, effective
from ..fleet.desired import quiet_hours_of
from .bulletins import BulletinError, play_length_ms
from .recurrence import Recurrence, RecurrenceError

QUIET_CHECK_DAYS = 35  # plays this long from the first are checked against quiet hours
MAX_TARGETS = 500


def new_id() -> str:
    """A unique schedule id (a slug)."""
    return "s-" + secrets.token_hex(8)


def recurrence_of(schedule: Schedule) -> Recurrence:
    """The schedule's recurrence, as the expansion uses it."""
    return Recurrence(
        kind=schedule.kind,  # type: ignore[arg-type]
        start_local=datetime.fromisoformat(schedule.start_local), timezone=schedule.timezone,
        weekdays=tuple(schedule.weekdays or ()),
        dates=tuple(date.fromisoformat(d) for d in schedule.dates or ()),
        until_local=date.fromisoformat(schedule.until_local) if schedule.until_local else None,
        rule=schedule.rule,
    )


def create(session: Session, actor: str, scope: set[str] | None, bulletin: Bulletin,
           fields: dict[str, Any]) -> Schedule:
    """Validate and store a schedule for an approved bulletin; raises BulletinError with the reason."""
    length_ms = play_length_ms(session, bulletin)
    area_ids, device_ids = check_targets(session, scope, fields.get("area_ids", []),
                                         fields.get("device_ids", []))
    zone = str(effective(session, bulletin.area_id, "timezone") or DEFAULT_TIMEZONE)
    schedule = Schedule(
        id=new_id(), bulletin_id=bulletin.id, kind=fields["kind"], start_local=fields["start_local"],
        timezone=zone, weekdays=list(fields.get("weekdays") or []),
        dates=[str(d) for d in fields.get("dates") or []],
        until_local=str(fields["until_local"]) if fields.get("until_local") else None,
        rule=fields.get("rule"), area_ids=area_ids, device_ids=device_ids,
        max_lateness_ms=fields.get("max_lateness_ms", 300_000),
        quiet_override=bool(fields.get("quiet_override")), created_by=actor,
    )
    try:
        recurrence = recurrence_of(schedule)
        first = recurrence.next_after(int(time.time() * 1000) - length_ms + 1)  # a window may be open
        if first is None:
            raise BulletinError("the schedule has no play from now on", 422)
        upcoming = recurrence.between(first, first + QUIET_CHECK_DAYS * 86_400_000)
    except (RecurrenceError, ValueError) as exc:
        raise BulletinError(str(exc), 422) from None
    quiet = quiet_conflicts(session, schedule, upcoming, length_ms)
    if quiet and not schedule.quiet_override:
        raise BulletinError(f"{len(quiet)} plays fall in quiet hours, the first at {quiet[0]}; "
                            "set quiet_override to schedule them anyway", 422)
    session.add(schedule)
    audit.record(session, actor, "schedule.create", [schedule.id, bulletin.id], kind=schedule.kind,
                 start=schedule.start_local, areas=area_ids, devices=device_ids,
                 quiet_override=schedule.quiet_override, quiet_plays=len(quiet))
    return schedule


def check_targets(session: Session, scope: set[str] | None, area_ids: list[str],
                  device_ids: list[str]) -> tuple[list[str], list[str]]:
    """The targets, sorted and unique, when each exists and lies inside scope; else BulletinError."""
    areas, devices = sorted(set(area_ids)), sorted(set(device_ids))
    if not areas and not devices:
        raise BulletinError("give at least one target area or device", 422)
    if len(areas) + len(devices) > MAX_TARGETS:
        raise BulletinError(f"at most {MAX_TARGETS} targets", 422)
    for area_id in areas:
        if session.get(Area, area_id) is None:
            raise BulletinError(f"no such area {area_id}", 422)
        if scope is not None and area_id not in scope:
            raise BulletinError(f"area {area_id} is outside your area", 403)
    for device_id in devices:
        device = session.get(Device, device_id)
        if device is None:
            raise BulletinError(f"no such device {device_id}", 422)
        if scope is not None and device.area_id not in scope:
            raise BulletinError(f"device {device_id} is outside your area", 403)
    return areas, devices


def quiet_conflicts(session: Session, schedule: Schedule, plays: list[int], duration_ms: int) -> list[str]:
    """The plays (as local times of the target) that reach into a target's quiet hours."""
    target_areas = list(schedule.area_ids)
    for device_id in schedule.device_ids:
        device = session.get(Device, device_id)
        if device is not None:
            target_areas.append(device.area_id)
    conflicts = []
    for area_id in sorted(set(target_areas)):
        quiet = quiet_hours_of(session, area_id)
        zone = ZoneInfo(quiet.timezone)
        for play in plays:
            if span_in_quiet(play, play + duration_ms, quiet.start, quiet.end, zone):
                local = datetime.fromtimestamp(play / 1000, zone).strftime("%Y-%m-%d %H:%M")
                conflicts.append(f"{local} ({area_id})")
    return sorted(conflicts)


def in_quiet(instant_ms: int, start: str, end: str, zone: ZoneInfo) -> bool:
    """Whether an instant falls in quiet hours start-end (local times; the span may cross midnight)."""
    local = datetime.fromtimestamp(instant_ms / 1000, zone).strftime("%H:%M")
    return (start <= local or local < end) if start > end else start <= local < end


def span_in_quiet(start_ms: int, end_ms: int, start: str, end: str, zone: ZoneInfo) -> bool:
    """Whether [start_ms, end_ms) reaches into quiet hours start-end: it begins in them, ends in
    them, or spans a moment they begin (a relay window of many hours may do that)."""
    if start == end:
        return False  # no quiet hours
    if in_quiet(start_ms, start, end, zone) or in_quiet(max(start_ms, end_ms - 1), start, end, zone):
        return True
    quiet_from = time_of_day(start)
    day = datetime.fromtimestamp(start_ms / 1000, zone).date()
    while (moment := datetime.combine(day, quiet_from, zone).timestamp() * 1000) < end_ms:
        if moment >= start_ms:
            return True
        day += timedelta(days=1)
    return False


def time_of_day(text: str) -> dt_time:
    """A "HH:MM" local time."""
    hours, minutes = text.split(":")
    return dt_time(int(hours), int(minutes))


def replace(session: Session, actor: str, scope: set[str] | None, old: Schedule, bulletin: Bulletin,
            fields: dict[str, Any]) -> Schedule:
    """Edit a schedule: the new one and the stopping of the old are one change, so the scheduler
    never sees both (or neither); raises BulletinError, leaving the old one as it was."""
    if not old.active:
        raise BulletinError("the schedule was stopped; schedule the bulletin anew", 409)
    schedule = create(session, actor, scope, bulletin, fields)
    old.active = False
    audit.record(session, actor, "schedule.replace", [old.id, schedule.id, bulletin.id])
    return schedule


def deactivate(session: Session, actor: str, schedule: Schedule) -> None:
    """Stop a schedule: its future plays are withdrawn by the scheduler."""
    schedule.active = False
    audit.record(session, actor, "schedule.stop", [schedule.id, schedule.bulletin_id])
