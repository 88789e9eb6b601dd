"""Final delivery reports: when a broadcast is over, its delivery is written to the database."""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from ..context import Services
from ..db.models import Broadcast, Occurrence
from ..notify.deliveries import failed_delivery
from ..notify.incidents import Raised, raise_incident
from ..periodic import every
from . import delivery, on_air
from .rebuild import rebuild

log = logging.getLogger(__name__)
GRACE_MS = 10_000


async def finish_reports(services: Services) -> None:
    """Store the final delivery report of broadcasts that are over (run every few seconds).

    Over means every device has finished with it, or its time (with the lateness) has passed; until
    then it can still be stopped or cancelled. A report naming devices that never played it raises
    an incident (controller/notify). A live broadcast that ended (stopped, or done by
    itself) waits for its receivers' receipts until its lease has run out too, the longest a
    receiver can still be playing it; the devices that never told are then closed (delivery.close).
    """
    now = int(time.time() * 1000)
    lease_ms = services.settings.live_lease_s * 1000
    ended: list[on_air.News] = []
    failures: list[Raised] = []
    for broadcast_id in _unreported(services, now):
        states = await _delivery_states(services, broadcast_id)
        with services.db.session() as session:
            broadcast = session.get(Broadcast, broadcast_id)
            if broadcast is None or not _over(broadcast, states, now, lease_ms):
                continue
            live = broadcast.live_kind is not None
        if live:
            states = await delivery.close(services.redis, broadcast_id, states)
        with services.db.session() as session:  # written without an await inside (db/write_guard.py)
            broadcast = session.get(Broadcast, broadcast_id)
            if broadcast is None or broadcast.report:
                continue
            broadcast.report = {**delivery.summary(states), "devices": states, "at_ms": now}
            failure = failed_delivery(session, broadcast, states) if broadcast.status != "stopped" else None
            if failure is not None:
                failures.append(failure)
            if broadcast.status == "on_air":
                broadcast.status = "done"
                ended.append(on_air.news(session, broadcast))
    await on_air.announce(services, ended)
    for failure in failures:  # told once the reports are stored
        await raise_incident(services, failure)


def _unreported(services: Services, now: int) -> list[str]:
    """The broadcasts whose report may be due: on the air or recently ended, with none yet."""
    with services.db.session() as session:
        # ended ones are looked at only while their report can still be due: the table grows for ever
        ends = Broadcast.start_ms + Broadcast.duration_ms + Broadcast.max_lateness_ms
        recent = ends > now - delivery.KEEP_S * 1000
        live_done = and_(Broadcast.status == "done", Broadcast.live_kind.is_not(None), recent)
        stopped = and_(Broadcast.status == "stopped", recent)
        open_ones = session.scalars(select(Broadcast).where(
            or_(Broadcast.status == "on_air", stopped, live_done), Broadcast.start_ms.is_not(None)))
        return [b.id for b in open_ones if not (b.report or _live_and_leased(session, b, now))]


async def _delivery_states(services: Services, broadcast_id: str) -> dict[str, dict[str, Any]]:
    """Each device's delivery state of a broadcast, rebuilt from the receipts when Redis lost it."""
    states = await delivery.snapshot(services.redis, broadcast_id)
    if not states and not await delivery.tracked(services.redis, broadcast_id):
        await rebuild(services, broadcast_id)
        states = await delivery.snapshot(services.redis, broadcast_id)
    return states


def _over(broadcast: Broadcast, states: dict[str, dict[str, Any]], now: int, lease_ms: int) -> bool:
    """Every device has finished with the broadcast, or none can play it any more."""
    if delivery.all_played_out(states):
        return True
    if broadcast.live_kind and broadcast.status == "on_air":
        return True  # its lease ran out while on the air: its controller is gone
    ends = (broadcast.start_ms or now) + broadcast.duration_ms + broadcast.max_lateness_ms + GRACE_MS
    return now > ends + (lease_ms if broadcast.live_kind else 0)


def _live_and_leased(session: Session, broadcast: Broadcast, now: int) -> bool:
    """A live broadcast on the air whose lease still holds: its session decides when it is over.

    Once the lease has run out (its controller is gone), it is over like any other.
    """
    if broadcast.live_kind is None or broadcast.status != "on_air":
        return False
    lease = session.scalar(select(func.max(Occurrence.valid_until_ms))
                           .where(Occurrence.broadcast_id == broadcast.id))
    return lease is not None and now < lease + GRACE_MS


async def reporter(services: Services, interval_s: float = 2.0) -> None:
    """Run finish_reports forever; never raises."""
    await every(interval_s, lambda: finish_reports(services), "delivery reports")
