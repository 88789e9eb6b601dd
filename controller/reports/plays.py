"""What was aired, from the devices' signed receipts: one row per device and occurrence.

A row joins a device's `started` (or `resumed`) receipt with its final one (`completed`,
`failed`, `missed`, `skipped`, `preempted`, `stopped`) and, where the cluster has a microphone at
its horns, its hearing check (`heard`: yes, no, unknown; `pending` until it arrives), and the
occurrence with its bulletin, schedule or broadcast when the controller still knows them (a
broadcast keeps the ids of its occurrences, so one stopped or ended is still named); a live
broadcast's row names its recording, a correction's the broadcast it answers (and that one's
title). Nothing here comes from what was intended: an occurrence no device reported on does not
appear.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import Broadcast, Device, DeviceEvent, Occurrence, Schedule
from ..media.store import preview_url

FINAL = ("completed", "failed", "missed", "skipped", "preempted", "stopped")
START = ("started", "resumed")
HEARD = "heard"
MAX_LEVEL_DB = 200.0
COLUMNS = ("device_id", "device_name", "area_id", "occurrence_id", "title", "level", "bulletin_id",
           "schedule_id", "broadcast_id", "scheduled_start", "started_at", "late_ms", "ended_at", "outcome",
           "reason", "position_ms", "heard", "heard_level_db", "recording_url", "in_reply_to",
           "in_reply_to_title")


def plays(session: Session, from_ms: int, to_ms: int, devices: set[str] | None) -> list[dict[str, Any]]:
    """Every occurrence a device reported on in [from_ms, to_ms), soonest first."""
    query = select(DeviceEvent).where(
        DeviceEvent.type.in_((*FINAL, *START, HEARD)), DeviceEvent.occurred_at >= _time(from_ms),
        DeviceEvent.occurred_at < _time(to_ms)).order_by(DeviceEvent.occurred_at)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for event in session.scalars(query):
        occurrence_id = event.data.get("occurrence") if isinstance(event.data, dict) else None
        if not isinstance(occurrence_id, str) or (devices is not None and event.device_id not in devices):
            continue
        if event.type == HEARD:
            _note_heard(rows.get((event.device_id, occurrence_id)), event.data)
            continue
        row = rows.setdefault((event.device_id, occurrence_id), _empty(event.device_id, occurrence_id))
        if event.type in START and row["started_at"] is None:
            row["started_at"] = _iso(event.data.get("at_ms")) or event.occurred_at.isoformat()
            row["late_ms"] = event.data.get("late_ms")
        elif event.type in FINAL:
            row.update(outcome=event.type, ended_at=event.occurred_at.isoformat(),
                       reason=str(event.data.get("reason", "")), position_ms=event.data.get("position_ms"))
            if event.type == "completed" and row["heard"] is None:
                row["heard"] = event.data.get("heard", "unknown")  # pending: its check is on its way
    _describe(session, list(rows.values()))
    return sorted(rows.values(), key=lambda r: (r["started_at"] or r["ended_at"] or "", r["device_id"]))


def _note_heard(row: dict[str, Any] | None, check: dict[str, Any]) -> None:
    """A hearing check, on the play it judged (one whose start lies before the window is left out).
    The event is stored as the device signed it; a level that is not a plausible number is left out."""
    if row is not None and check.get("heard") in ("yes", "no", "unknown"):
        row.update(heard=check["heard"], heard_level_db=level_db(check.get("level_db")))


def level_db(value: object) -> float | None:
    """A level in dB as a report gives it: a finite number within ±200, to a tenth; else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return round(float(value), 1) if abs(value) <= MAX_LEVEL_DB else None


def heard_summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    """The completed plays counted by what their hearing check said: heard (yes), not heard (no),
    unknown (no microphone, or nothing judged) and pending."""
    counts = {"completed": 0, "yes": 0, "no": 0, "unknown": 0, "pending": 0}
    for row in rows:
        if row["outcome"] == "completed":
            counts["completed"] += 1
            counts[row["heard"] if row["heard"] in counts else "unknown"] += 1
    return counts


def _empty(device_id: str, occurrence_id: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(device_id=device_id, occurrence_id=occurrence_id, outcome="playing", reason="")
    return row


def _describe(session: Session, rows: list[dict[str, Any]]) -> None:
    """Fill in what the controller knows of each occurrence and device."""
    occurrences = {o.id: o for o in session.scalars(select(Occurrence).where(
        Occurrence.id.in_({row["occurrence_id"] for row in rows})))}
    devices = {d.id: d for d in session.scalars(select(Device).where(
        Device.id.in_({row["device_id"] for row in rows})))}
    bulletin_of_schedule = dict(session.execute(select(Schedule.id, Schedule.bulletin_id)).all())
    broadcasts = {row.id: row for row in session.execute(select(
        Broadcast.id, Broadcast.bulletin_id, Broadcast.title, Broadcast.level, Broadcast.recording_sha256,
        Broadcast.in_reply_to, Broadcast.occurrence_ids))}
    withdrawn = _withdrawn(broadcasts, {row["occurrence_id"] for row in rows} - set(occurrences))
    for row in rows:
        device = devices.get(row["device_id"])
        if device is not None:
            row.update(device_name=device.name, area_id=device.area_id)
        occurrence = occurrences.get(row["occurrence_id"])
        if occurrence is None:
            _of_withdrawn(row, withdrawn.get(row["occurrence_id"]), broadcasts)
            continue
        broadcast = broadcasts.get(occurrence.broadcast_id or "")
        row.update(title=occurrence.title, level=occurrence.level, schedule_id=occurrence.schedule_id,
                   broadcast_id=occurrence.broadcast_id, scheduled_start=_iso(occurrence.start_ms),
                   bulletin_id=bulletin_of_schedule.get(occurrence.schedule_id or "")
                   or (broadcast.bulletin_id if broadcast else None))
        if broadcast is not None:
            _answering(row, broadcast, broadcasts)


def _withdrawn(broadcasts: dict[str, Any], gone: set[str]) -> dict[str, Any]:
    """The broadcast of each occurrence no longer in the table (a broadcast that was stopped, or a
    live one that ended, takes its occurrences off the air), from the ids it kept."""
    if not gone:
        return {}
    return {occurrence_id: broadcast for broadcast in broadcasts.values()
            for occurrence_id in broadcast.occurrence_ids or () if occurrence_id in gone}


def _of_withdrawn(row: dict[str, Any], broadcast: Any, broadcasts: dict[str, Any]) -> None:
    if broadcast is not None:
        row.update(title=broadcast.title, level=broadcast.level, broadcast_id=broadcast.id,
                   bulletin_id=broadcast.bulletin_id)
        _answering(row, broadcast, broadcasts)


def _answering(row: dict[str, Any], broadcast: Any, broadcasts: dict[str, Any]) -> None:
    """A broadcast's recording, and the earlier broadcast it answers."""
    if broadcast.recording_sha256:
        row["recording_url"] = preview_url(broadcast.recording_sha256)
    if broadcast.in_reply_to:
        earlier = broadcasts.get(broadcast.in_reply_to)
        row.update(in_reply_to=broadcast.in_reply_to, in_reply_to_title=earlier.title if earlier else None)


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _iso(ms: object) -> str | None:
    return _time(ms).isoformat() if isinstance(ms, int) else None


def summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Rows counted by outcome."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
    return counts
