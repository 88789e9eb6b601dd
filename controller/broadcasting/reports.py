"""Final delivery reports: when a broadcast is over, its delivery is written to the database."""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..context import Services
from ..db.models import Broadcast, Occurrence
from . import delivery, on_air
from .rebuild import rebuild

log = logging.getLogger(__name__)
GRACE_MS = 10_000


async def finish_reports(services: Services) -> None:
    """Store the final delivery report of broadcasts that are over (run every few seconds).

    Over means every device has finished with it, or its time (with the lateness) has passed; until
    then it can still be stopped or cancelled.
    """
    now = int(time.time() * 1000)
    ended = []
    with services.db.session() as session:
        open_ones = session.scalars(select(Broadcast).where(Broadcast.status.in_(("on_air", "stopped")),
                                                            Broadcast.start_ms.is_not(None)))
        for broadcast in open_ones:
            if broadcast.report or _live_and_leased(session, broadcast, now):
                continue
            states = await delivery.snapshot(services.redis, broadcast.id)
            if not states and not await delivery.tracked(services.redis, broadcast.id):
                await rebuild(services, broadcast.id)  # Redis lost it
                states = await delivery.snapshot(services.redis, broadcast.id)
            summary = delivery.summary(states)
            ends = (broadcast.start_ms or now) + broadcast.duration_ms + broadcast.max_lateness_ms + GRACE_MS
            if delivery.all_played_out(states) or now > ends or broadcast.live_kind:
                broadcast.report = {**summary, "devices": states, "at_ms": now}
                if broadcast.status == "on_air":
                    broadcast.status = "done"
                    ended.append(on_air.news(session, broadcast))
    await on_air.announce(services, ended)


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
    while True:
        await asyncio.sleep(interval_s)
        try:
            await finish_reports(services)
        except Exception:
            log.exception("delivery reports failed; trying again")
