"""Scheduled plays that did not play everywhere: once a scheduled occurrence's time (with its
lateness) is over, the devices it reached that reported it failed, missed or skipped, or reported
nothing at all, make an incident (broadcasts have their own delivery reports: deliveries.py).

Receipts come from the devices' signed events; a device that played while cut off from the network
sends its receipts when it is back, so "no receipt" means not confirmed, and is said so. Each
occurrence is looked at once (a Redis key claims it, for every controller), GRACE_MS after its end
so that the last receipts have arrived.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..context import Services
from ..db.models import Device, DeviceEvent, Occurrence
from ..fleet.areas import parent_map, subtree
from ..periodic import every
from ..redis_client import UNREACHABLE
from .incidents import Raised, raise_incident
from .rules import Kind

log = logging.getLogger(__name__)

CHECK_S = 10.0
GRACE_MS = 20_000
LOOKBACK_MS = 3_600_000
LONGEST_MS = 2 * 86_400_000  # an occurrence's length and lateness together (bounds the index scan)
PLAYED = frozenset({"started", "resumed", "completed", "preempted", "stopped"})
NOT_PLAYED = frozenset({"failed", "missed", "skipped", "rejected"})
NO_RECEIPT = "no_receipt"


def ended(session: Session, now_ms: int) -> list[Occurrence]:
    """Occurrences not of a broadcast (a schedule's, a scheduled relay's, one made alone) whose time
    ended GRACE_MS to LOOKBACK_MS ago."""
    ends = Occurrence.start_ms + Occurrence.duration_ms + Occurrence.max_lateness_ms
    return list(session.scalars(select(Occurrence).where(
        Occurrence.broadcast_id.is_(None), Occurrence.start_ms >= now_ms - LOOKBACK_MS - LONGEST_MS,
        ends < now_ms - GRACE_MS, ends >= now_ms - LOOKBACK_MS)))


def reported(session: Session, occurrences: list[Occurrence]) -> dict[str, dict[str, str]]:
    """What each device reported of each occurrence: played, or its last failure."""
    wanted = {occurrence.id for occurrence in occurrences}
    if not wanted:
        return {}
    since = datetime.fromtimestamp(min(o.start_ms for o in occurrences) / 1000 - 60, UTC)
    rows = session.execute(select(DeviceEvent.device_id, DeviceEvent.type, DeviceEvent.data).where(
        DeviceEvent.occurred_at >= since, DeviceEvent.type.in_(PLAYED | NOT_PLAYED)).order_by(DeviceEvent.id))
    found: dict[str, dict[str, str]] = {}
    for device_id, kind, data in rows:
        occurrence_id = data.get("occurrence") if isinstance(data, dict) else None
        if occurrence_id in wanted:
            said = found.setdefault(occurrence_id, {})
            if said.get(device_id) != "played":
                said[device_id] = "played" if kind in PLAYED else kind
    return found


def reached(occurrence: Occurrence, devices: Iterable[Device],
            parents: dict[str, str | None]) -> list[Device]:
    """The devices an occurrence was for, among those that existed at its start."""
    start = datetime.fromtimestamp(occurrence.start_ms / 1000, UTC)
    below = subtree(parents, occurrence.area_id) if occurrence.area_id in parents else set()
    return [device for device in devices if device.created_at <= start
            and (device.id == occurrence.device_id or device.area_id in below)]


def failed_play(occurrence: Occurrence, devices: list[Device], said: dict[str, str]) -> Raised | None:
    """The incident an occurrence makes, or None when every device it reached played it."""
    failed = {device.id: said.get(device.id, NO_RECEIPT) for device in devices
              if said.get(device.id) != "played"}
    if not failed:
        return None
    names = {device.id: device.name for device in devices if device.id in failed}
    areas = sorted({device.area_id for device in devices if device.id in failed})
    return Raised(Kind.DELIVERY_FAILED, occurrence.id, areas,
                  f"{occurrence.title or occurrence.id}: {len(failed)}/{len(devices)}",
                  {"occurrence_id": occurrence.id, "schedule_id": occurrence.schedule_id,
                   "devices": failed, "device_names": names})


def failures(session: Session, occurrences: list[Occurrence]) -> list[Raised]:
    """The incidents these ended occurrences make."""
    parents = parent_map(session)
    devices = list(session.scalars(select(Device)))
    said = reported(session, occurrences)
    found = (failed_play(o, reached(o, devices, parents), said.get(o.id, {})) for o in occurrences)
    return [raised for raised in found if raised is not None]


async def check_plays(services: Services) -> None:
    """Look once at every scheduled occurrence that ended lately, and raise what did not play."""
    with services.db.session() as session:
        candidates = ended(session, int(time.time() * 1000))
    keep_s = 2 * LOOKBACK_MS // 1000
    fresh = [o for o in candidates
             if await services.redis.set(f"loa:notify:play-checked:{o.id}", 1, nx=True, ex=keep_s)]
    if not fresh:
        return
    with services.db.session() as session:
        raised = failures(session, fresh)
    for incident in raised:
        await raise_incident(services, incident)


async def play_watch(services: Services) -> None:
    """Run check_plays every CHECK_S, forever; never raises. Redis being gone is told once by the
    presence watchdog; the next look catches up."""
    await every(CHECK_S, lambda: check_plays(services), "notifications: the check of scheduled plays",
                quiet=UNREACHABLE)
