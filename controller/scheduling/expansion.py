"""Expanding schedules into occurrences: what should play in the coming week, written once.

Each play of a schedule for each of its targets becomes one occurrence with an id derived from
(schedule, target, start), so expanding again (after a restart, by another leader) finds the same
ids and writes nothing twice. Only future occurrences are added or withdrawn; the targets whose
set changed get a new desired-state version and are published once each.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import Area, Bulletin, Device, MediaItem, Occurrence, Schedule
from ..fleet import desired
from .leader import fence
from .recurrence import RecurrenceError
from .schedules import recurrence_of

log = logging.getLogger(__name__)

AHEAD_MS = 7 * 86_400_000


def occurrence_id(schedule_id: str, target: str, start_ms: int) -> str:
    """The stable id of one play of a schedule for one target."""
    digest = hashlib.sha256(f"{schedule_id}|{target}|{start_ms}".encode()).hexdigest()
    return "o-" + digest[:24]


@dataclass(frozen=True)
class Expansion:
    """What one expansion changed."""

    added: int
    withdrawn: int
    targets: list[str]  # desired-state targets (`area:ID`, `device:ID`) to publish again


def planned(session: Session, now_ms: int, ahead_ms: int = AHEAD_MS) -> dict[str, dict[str, Any]]:
    """Every occurrence active schedules of approved bulletins want in [now, now + ahead), by id."""
    rows: dict[str, dict[str, Any]] = {}
    query = (select(Schedule, Bulletin, MediaItem).join(Bulletin, Schedule.bulletin_id == Bulletin.id)
             .join(MediaItem, Bulletin.media_sha256 == MediaItem.sha256)
             .where(Schedule.active.is_(True), Bulletin.status == "approved"))
    for schedule, bulletin, item in session.execute(query):
        try:
            starts = recurrence_of(schedule).between(now_ms, now_ms + ahead_ms)
        except (RecurrenceError, ValueError) as exc:
            log.warning("schedule %s cannot be expanded: %s", schedule.id, exc)
            continue
        targets = [("area", a) for a in schedule.area_ids] + [("device", d) for d in schedule.device_ids]
        for start in starts:
            for scope, target in targets:
                row_id = occurrence_id(schedule.id, f"{scope}:{target}", start)
                rows[row_id] = {
                    "id": row_id, "area_id": target if scope == "area" else None,
                    "device_id": target if scope == "device" else None, "level": bulletin.level,
                    "start_ms": start, "duration_ms": item.duration_ms,
                    "source": {"type": "media", "sha256": item.sha256, "size": item.size},
                    "max_lateness_ms": schedule.max_lateness_ms, "quiet_override": schedule.quiet_override,
                    "title": bulletin.title, "created_by": schedule.created_by, "schedule_id": schedule.id,
                }
    return rows


def apply(session: Session, wanted: dict[str, dict[str, Any]], now_ms: int, epoch: int,
          holder: str, republish: bool = False) -> Expansion:
    """Write the difference between wanted and the stored future occurrences, fenced by epoch.

    republish: also name every target of a stored future occurrence, for a new leader's first
    expansion (an old leader may have written rows and lost its lock before publishing them).
    """
    fence(session, epoch, holder)
    stored = {row.id: row for row in session.scalars(
        select(Occurrence).where(Occurrence.schedule_id.is_not(None), Occurrence.start_ms >= now_ms))}
    known_areas = set(session.scalars(select(Area.id)))
    known_devices = set(session.scalars(select(Device.id)))
    changed: set[str] = set()
    added = 0
    for row_id, fields in wanted.items():
        if row_id in stored or not _target_exists(fields, known_areas, known_devices):
            continue
        if session.get(Occurrence, row_id) is not None:
            continue  # already started (before now): kept as it is
        session.add(Occurrence(**fields, valid_until_ms=None, issued_ms=now_ms, epoch=epoch))
        changed.add(_target_key(fields["area_id"], fields["device_id"]))
        added += 1
    withdrawn = [row for row_id, row in stored.items() if row_id not in wanted]
    for row in withdrawn:
        changed.add(_target_key(row.area_id, row.device_id))
        session.delete(row)
    for key in changed:
        scope, target = key.split(":", 1)
        owner = session.get(Area, target) if scope == "area" else session.get(Device, target)
        if owner is not None:
            owner.desired_version += 1
    kept = {_target_key(row.area_id, row.device_id) for row_id, row in stored.items() if row_id in wanted}
    return Expansion(added, len(withdrawn), sorted(changed | kept if republish else changed))


def _target_exists(fields: dict[str, Any], areas: set[str], devices: set[str]) -> bool:
    return fields["area_id"] in areas if fields["area_id"] else fields["device_id"] in devices


def _target_key(area_id: str | None, device_id: str | None) -> str:
    return desired.target_key("area", area_id) if area_id else desired.target_key("device", str(device_id))


def now_ms() -> int:
    """Wall-clock time in ms."""
    return int(time.time() * 1000)
