"""Reports from signed receipts: plays (JSON or CSV), devices, one bulletin, the provincial export."""

from __future__ import annotations

import csv
import io
import time
from datetime import date, datetime, timedelta
from datetime import time as clock
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import select

from .. import __version__
from ..context import Services
from ..db.models import Area, Bulletin, Device
from ..errors import DomainError
from ..fleet import history
from ..fleet.areas import DEFAULT_TIMEZONE, chain, parent_map, subtree
from ..reports import plays
from .deps import Principal, ServicesDep, ViewerDep, ensure_in_scope
from .schemas import CalendarDay

router = APIRouter(prefix="/reports", tags=["reports"])
ZONE = ZoneInfo(DEFAULT_TIMEZONE)
Day = Annotated[CalendarDay | None, Query(description="local day (Asia/Ho_Chi_Minh); default today")]


def _window(from_date: date | None, to_date: date | None) -> tuple[int, int]:
    """[start of from_date, end of to_date) in ms; default today; at most 93 days."""
    today = datetime.now(ZONE).date()
    first, last = from_date or to_date or today, to_date or from_date or today
    if last < first or (last - first).days > 92:
        raise DomainError("bad_window", "give a window of 1 to 93 days, from_date not after to_date", 422,
                          "to_date")
    start = datetime.combine(first, clock(0), ZONE)
    end = datetime.combine(last + timedelta(days=1), clock(0), ZONE)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def _devices(services: Services, principal: Principal, area_id: str | None) -> set[str] | None:
    """Devices the report may show: in the caller's scope and under area_id (None: every device)."""
    if area_id is not None:
        ensure_in_scope(principal, area_id)
    with services.db.session() as session:
        if area_id is None and principal.scope is None:
            return None
        parents = parent_map(session)
        if area_id is not None and area_id not in parents:
            raise DomainError("unknown_area", "no such area", 404)
        allowed = subtree(parents, area_id) if area_id else set(principal.scope or ())
        return {d.id for d in session.scalars(select(Device)) if d.area_id in allowed}


@router.get("/plays", summary="What was aired where and when", responses={
    200: {"content": {"text/csv": {}}, "description": "JSON rows, or CSV with format=csv"}})
async def report_plays(
    services: ServicesDep, principal: ViewerDep, from_date: Day = None, to_date: Day = None,
    area_id: Annotated[str | None, Query(max_length=48)] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    """One row per device and occurrence from the devices' signed receipts (started, then completed,
    failed, missed, skipped, preempted or stopped)."""
    start, end = _window(from_date, to_date)
    allowed = _devices(services, principal, area_id)
    with services.db.session() as session:
        rows = plays.plays(session, start, end, allowed)
    if format == "csv":
        return _csv(rows, f"phat-song-{datetime.fromtimestamp(start / 1000, ZONE).date()}.csv")
    return {"from_ms": start, "to_ms": end, "summary": plays.summary(rows),
            "heard": plays.heard_summary(rows), "plays": rows}


def _csv(rows: list[dict[str, Any]], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=plays.COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(value) for key, value in row.items()})
    return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _cell(value: Any) -> Any:
    """A spreadsheet never runs what a cell holds: text starting like a formula is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


@router.get("/devices", summary="Devices: uptime, last seen, plays")
async def report_devices(
    services: ServicesDep, principal: ViewerDep,
    days: Annotated[float, Query(gt=0, le=93)] = 7,
    area_id: Annotated[str | None, Query(max_length=48)] = None,
) -> list[dict[str, Any]]:
    """Per device over the last days: uptime from presence changes, last seen, plays by outcome, and its
    completed plays by what its microphone heard."""
    allowed = _devices(services, principal, area_id)
    end = int(time.time() * 1000)
    start = end - int(days * 86_400_000)
    with services.db.session() as session:
        rows = plays.plays(session, start, end, allowed)
        devices = [d for d in session.scalars(select(Device).order_by(Device.id))
                   if allowed is None or d.id in allowed]
        report = []
        for device in devices:
            mine = [row for row in rows if row["device_id"] == device.id]
            presence = await services.presence.get(device.id)
            report.append({
                "device_id": device.id, "name": device.name, "area_id": device.area_id,
                "online": bool(presence and presence.online),
                "last_seen_ms": presence.last_seen_ms if presence else None,
                "uptime": history.uptime(session, device.id, start, end), "plays": plays.summary(mine),
                "heard": plays.heard_summary(mine),
            })
    return report


@router.get("/bulletins/{bulletin_id}", summary="Delivery of one bulletin")
async def report_bulletin(bulletin_id: str, services: ServicesDep, principal: ViewerDep) -> dict[str, Any]:
    """Every play of the bulletin (through its schedules and broadcasts) the devices reported."""
    with services.db.session() as session:
        bulletin = session.get(Bulletin, bulletin_id[:48])
        if bulletin is None:
            raise DomainError("unknown_bulletin", "no such bulletin", 404)
        ensure_in_scope(principal, bulletin.area_id)
        start = int(bulletin.created_at.timestamp() * 1000)  # nothing of it played before it existed
        rows = [row for row in plays.plays(session, start - 86_400_000, int(time.time() * 1000) + 60_000,
                                           _devices(services, principal, None))
                if row["bulletin_id"] == bulletin.id]
    return {"bulletin_id": bulletin.id, "title": bulletin.title, "summary": plays.summary(rows),
            "heard": plays.heard_summary(rows), "devices": len({row["device_id"] for row in rows}),
            "plays": rows}


@router.get("/export", summary="Export for the provincial source-information system")
async def export(services: ServicesDep, principal: ViewerDep, from_date: Day = None, to_date: Day = None,
                 area_id: Annotated[str | None, Query(max_length=48)] = None) -> dict[str, Any]:
    """Stations (loudspeaker clusters with their administrative area) and broadcasts (what each aired,
    when, how long, with what result), as documented in docs/reports.md."""
    start, end = _window(from_date, to_date)
    allowed = _devices(services, principal, area_id)
    with services.db.session() as session:
        rows = plays.plays(session, start, end, allowed)
        parents = parent_map(session)
        names = dict(session.execute(select(Area.id, Area.name)).all())
        stations = [{
            "station_code": d.id, "station_name": d.name, "latitude": d.latitude, "longitude": d.longitude,
            "administrative_area": [{"code": a, "name": names.get(a, "")} for a in chain(parents, d.area_id)],
            "is_test": d.is_test,
        } for d in session.scalars(select(Device).order_by(Device.id)) if allowed is None or d.id in allowed]
    return {
        "schema": "loalang-source-export/1", "generator": f"loalang {__version__}",
        "instance": services.settings.instance_id, "generated_at": datetime.now(ZONE).isoformat(),
        "period": {"from": datetime.fromtimestamp(start / 1000, ZONE).isoformat(),
                   "to": datetime.fromtimestamp(end / 1000, ZONE).isoformat()},
        "stations": stations,
        "broadcasts": [{
            "station_code": row["device_id"], "title": row["title"], "level": row["level"],
            "bulletin_id": row["bulletin_id"], "scheduled_start": row["scheduled_start"],
            "started_at": row["started_at"], "ended_at": row["ended_at"], "result": row["outcome"],
            "reason": row["reason"], "heard": row["heard"], "broadcast_id": row["broadcast_id"],
            "recording_url": row["recording_url"], "in_reply_to": row["in_reply_to"],
        } for row in rows],
    }
