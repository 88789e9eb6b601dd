"""Delivery tracking rebuilt when Redis lost it: the database and the receipts are the truth.

A broadcast on the air always has its delivery record in Redis (it is written as it goes on the
air). When the record is gone (Redis restarted empty, wiped or failed over), the devices the
broadcast reaches are worked out again, each starts `pending` (or `offline`), and the receipts
stored since the broadcast was made are replayed in the order they arrived. Receipts that arrive
afterwards find their broadcast again. What is lost is only what no receipt records: when each
device acknowledged the desired state (its next report says so again).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..context import Services
from ..db.models import Area, Broadcast, Device, DeviceEvent, Occurrence
from . import delivery
from .broadcasts import reached_devices

log = logging.getLogger(__name__)


async def rebuild(services: Services, broadcast_id: str) -> int:
    """Track the broadcast again from the database; returns the devices it reaches."""
    with services.db.session() as session:
        broadcast = session.get(Broadcast, broadcast_id)
        if broadcast is None:
            return 0
        reach = _reach(session, broadcast)
        query = select(Occurrence.id).where(Occurrence.broadcast_id == broadcast_id)
        occurrences = list(session.scalars(query))
        receipts = _receipts(session, broadcast, set(reach), set(occurrences))
    online = await services.presence.online_among(list(reach))
    await delivery.begin(services.redis, broadcast_id, reach, online, occurrences)
    await delivery.on_receipts(services.redis, receipts)
    log.warning("delivery of broadcast %s was lost from Redis: rebuilt for %d devices from %d receipts",
                broadcast_id, len(reach), len(receipts))
    return len(reach)


def _reach(session: Session, broadcast: Broadcast) -> dict[str, tuple[str, str, int]]:
    """Each device reached, with the target's version now (a device holding it holds the broadcast)."""
    reach = {}
    for device_id, (scope, target) in reached_devices(session, broadcast).items():
        owner = session.get(Area, target) if scope == "area" else session.get(Device, target)
        reach[device_id] = (scope, target, owner.desired_version if owner is not None else 0)
    return reach


def _receipts(session: Session, broadcast: Broadcast, devices: set[str],
              occurrences: set[str]) -> list[tuple[str, str, dict[str, object]]]:
    """The stored receipts of the broadcast's occurrences, in the order they arrived."""
    if not devices:
        return []
    since = broadcast.created_at - timedelta(minutes=1)
    query = (select(DeviceEvent).where(DeviceEvent.device_id.in_(devices), DeviceEvent.received_at >= since,
                                       DeviceEvent.type.in_(list(delivery.RECEIPT_STATES)))
             .order_by(DeviceEvent.id))
    return [(event.device_id, event.type, event.data) for event in session.scalars(query)
            if event.data.get("occurrence") in occurrences]
