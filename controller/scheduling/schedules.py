"""Schedules: a bulletin's recurrence and targets, checked against scope and quiet hours.

A schedule's times are wall-clock times of the bulletin's area. Plays that would fall into the
quiet hours of a target are refused unless the operator overrides them explicitly; the override
is audited and travels, signed, with every occurrence (the agents honour it).
"""

from __future__ import annotations

import secrets
import time
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from .. import audit
from ..broadcasting import broadcasts
from ..db.models import Bulletin, Schedule
from ..fleet.areas import DEFAULT_TIMEZONE, effective
from ..fleet.desired import quiet_hours_of
from ..fleet.quiet import span_in_quiet
from .bulletins import BulletinError, play_length_ms
from .recurrence import Recurrence, RecurrenceError

AWAITING = "awaiting"
Confirmation = str | None  # who confirmed by password, AWAITING a second approver, or None
QUIET_CHECK_DAYS = 35  # plays this long from the first are checked against quiet hours


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


def create(session: Session, actor: str, bulletin: Bulletin, fields: dict[str, Any],
           confirmation: Confirmation = None) -> Schedule:
    """Validate and store a schedule for an approved bulletin the airtime gate let through; raises
    BulletinError with the reason.

    confirmation: who confirmed an emergency schedule by password, or `awaiting` a second approver
    (the schedule then plays nothing until confirmed).
    """
    length_ms = play_length_ms(session, bulletin)
    area_ids = sorted(set(fields.get("area_ids", [])))
    device_ids = sorted(set(fields.get("device_ids", [])))
    zone = str(effective(session, bulletin.area_id, "timezone") or DEFAULT_TIMEZONE)
    schedule = Schedule(
        id=new_id(), bulletin_id=bulletin.id, kind=fields["kind"], start_local=fields["start_local"],
        timezone=zone, weekdays=list(fields.get("weekdays") or []),
        dates=[str(d) for d in fields.get("dates") or []],
        until_local=str(fields["until_local"]) if fields.get("until_local") else None,
        rule=fields.get("rule"), area_ids=area_ids, device_ids=device_ids,
        max_lateness_ms=fields.get("max_lateness_ms", 300_000),
        quiet_override=bool(fields.get("quiet_override")), created_by=actor,
        active=confirmation != AWAITING, awaiting_confirmation=confirmation == AWAITING,
        confirmed_by=None if confirmation == AWAITING else confirmation,
    )
    try:
        recurrence = recurrence_of(schedule)
        first = recurrence.next_after(int(time.time() * 1000) - length_ms + 1)  # a window may be open
        if first is None:
            raise BulletinError("schedule_no_play", "the schedule has no play from now on", 422)
        upcoming = recurrence.between(first, first + QUIET_CHECK_DAYS * 86_400_000)
    except BulletinError:
        raise
    except (RecurrenceError, ValueError) as exc:
        raise BulletinError("recurrence_invalid", str(exc), 422) from None
    quiet = quiet_conflicts(session, schedule, upcoming, length_ms)
    if quiet and not schedule.quiet_override:
        raise BulletinError("quiet_hours", f"{len(quiet)} plays fall in quiet hours, the first at "
                                           f"{quiet[0]}; set quiet_override to schedule them anyway", 422)
    session.add(schedule)
    audit.record(session, actor, "schedule.create", [schedule.id, bulletin.id], kind=schedule.kind,
                 start=schedule.start_local, areas=area_ids, devices=device_ids,
                 quiet_override=schedule.quiet_override, quiet_plays=len(quiet),
                 awaiting_confirmation=schedule.awaiting_confirmation, confirmed_by=schedule.confirmed_by)
    return schedule


def target_areas(session: Session, schedule: Schedule) -> list[str]:
    """The schedule's target areas and the areas of its target devices."""
    return broadcasts.target_areas(session, list(schedule.area_ids), list(schedule.device_ids))


def quiet_conflicts(session: Session, schedule: Schedule, plays: list[int], duration_ms: int) -> list[str]:
    """The plays (as local times of the target) that reach into a target's quiet hours."""
    conflicts = []
    for area_id in target_areas(session, schedule):
        quiet = quiet_hours_of(session, area_id)
        zone = ZoneInfo(quiet.timezone)
        for play in plays:
            if span_in_quiet(play, play + duration_ms, quiet.start, quiet.end, zone):
                local = datetime.fromtimestamp(play / 1000, zone).strftime("%Y-%m-%d %H:%M")
                conflicts.append(f"{local} ({area_id})")
    return sorted(conflicts)


def replace(session: Session, actor: str, old: Schedule, bulletin: Bulletin, fields: dict[str, Any],
            confirmation: Confirmation = None) -> Schedule:
    """Edit a schedule: the new one and the stopping of the old are one change, so the scheduler
    never sees both (or neither); raises BulletinError, leaving the old one as it was."""
    if not old.active:
        raise BulletinError("schedule_stopped", "the schedule was stopped; schedule the bulletin anew", 409)
    schedule = create(session, actor, bulletin, fields, confirmation)
    old.active = False
    audit.record(session, actor, "schedule.replace", [old.id, schedule.id, bulletin.id])
    return schedule


def confirm(session: Session, actor: str, schedule: Schedule) -> None:
    """A second approver confirmed an emergency schedule: it plays from now on."""
    schedule.awaiting_confirmation, schedule.active, schedule.confirmed_by = False, True, actor
    audit.record(session, actor, "schedule.confirm", [schedule.id, schedule.bulletin_id])


def deactivate(session: Session, actor: str, schedule: Schedule) -> None:
    """Stop a schedule: its future plays are withdrawn by the scheduler."""
    schedule.active = False
    audit.record(session, actor, "schedule.stop", [schedule.id, schedule.bulletin_id])
