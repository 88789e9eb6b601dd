"""The preview: what plays where on a given day, computed from the schedules themselves.

For an area it lists every play that reaches its devices: schedules addressed to the area, to the
areas above it (a province bulletin plays in every village) and to the areas and devices below
it. Each play is marked when it falls in its target's quiet hours, and when it overlaps another
play reaching some of the same devices (the arbiter would make one of them wait or cut in).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import Bulletin, Device, MediaItem, Schedule
from ..fleet.areas import DEFAULT_TIMEZONE, chain, effective, parent_map, subtree
from ..fleet.desired import quiet_hours_of
from ..fleet.quiet import span_in_quiet
from .recurrence import RecurrenceError
from .schedules import recurrence_of


class Play(BaseModel):
    """One play in the preview."""

    start_ms: int
    start_local: str = Field(examples=["06:30"])
    end_local: str
    duration_ms: int
    level: str
    title: str
    bulletin_id: str
    schedule_id: str
    target: str = Field(description="the area or device the schedule addresses")
    relay: bool = Field(False, description="a relayed station for this window, not a file")
    quiet: bool = Field(description="inside the target's quiet hours (played only with an override)")
    quiet_override: bool
    overlaps: list[str] = Field(description="schedules of other plays at the same time on the same devices")


def day(session: Session, area_id: str, on: date) -> list[Play]:
    """Every play reaching area_id's devices on the local day `on`, soonest first."""
    parents = parent_map(session)
    zone = ZoneInfo(str(effective(session, area_id, "timezone") or DEFAULT_TIMEZONE))
    start = int(datetime.combine(on, time(0), zone).timestamp() * 1000)
    end = int(datetime.combine(on + timedelta(days=1), time(0), zone).timestamp() * 1000)
    related = set(chain(parents, area_id)) | subtree(parents, area_id)
    device_areas = {d.id: d.area_id for d in session.scalars(select(Device))}
    plays: list[tuple[Play, set[str]]] = []
    query = (select(Schedule, Bulletin, MediaItem).join(Bulletin, Schedule.bulletin_id == Bulletin.id)
             .outerjoin(MediaItem, Bulletin.media_sha256 == MediaItem.sha256)
             .where(Schedule.active.is_(True), Bulletin.status == "approved"))
    for schedule, bulletin, item in session.execute(query):
        length_ms = item.duration_ms if item is not None else bulletin.duration_ms
        if length_ms is None:
            continue
        try:
            # a relay's window that opened the day before and runs into this one is listed too
            starts = recurrence_of(schedule).between(start - (length_ms - 1 if item is None else 0), end)
        except (RecurrenceError, ValueError):
            continue
        targets = [(a, a) for a in schedule.area_ids if a in related]
        targets += [(d, device_areas[d]) for d in schedule.device_ids if device_areas.get(d) in related]
        for target, target_area in targets:
            quiet = quiet_hours_of(session, target_area)
            quiet_zone = ZoneInfo(quiet.timezone)
            reach = subtree(parents, target) if target in parents else {target_area}
            for play_start in starts:
                play = Play(
                    start_ms=play_start, start_local=_local(play_start, zone),
                    end_local=_local(play_start + length_ms, zone), duration_ms=length_ms,
                    level=bulletin.level, title=bulletin.title, bulletin_id=bulletin.id,
                    schedule_id=schedule.id, target=target, quiet_override=schedule.quiet_override,
                    relay=item is None,
                    overlaps=[],
                    quiet=span_in_quiet(play_start, play_start + length_ms, quiet.start, quiet.end,
                                        quiet_zone),
                )
                plays.append((play, reach))
    _mark_overlaps(plays)
    return sorted((play for play, _ in plays), key=lambda p: (p.start_ms, p.target))


def _mark_overlaps(plays: list[tuple[Play, set[str]]]) -> None:
    for index, (play, reach) in enumerate(plays):
        for other, other_reach in plays[index + 1:]:
            apart = (other.start_ms >= play.start_ms + play.duration_ms
                     or play.start_ms >= other.start_ms + other.duration_ms)
            if not apart and reach & other_reach and other.schedule_id != play.schedule_id:
                play.overlaps.append(other.schedule_id)
                other.overlaps.append(play.schedule_id)


def _local(instant_ms: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(instant_ms / 1000, zone).strftime("%H:%M")
