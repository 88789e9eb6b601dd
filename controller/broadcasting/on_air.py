"""What the event feed says of broadcasts going on and off the air."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .. import feed
from ..context import Services
from ..db.models import Broadcast
from . import broadcasts

News = tuple[list[str], dict[str, Any]]


def news(session: Session, broadcast: Broadcast, **extra: Any) -> News:
    """What the event feed says of a broadcast's status: the areas it reaches and the event's fields."""
    return (broadcasts.target_areas(session, broadcast.area_ids, broadcast.device_ids),
            {"broadcast_id": broadcast.id, "title": broadcast.title, "level": broadcast.level,
             "status": broadcast.status, **extra})


async def announce(services: Services, items: list[News]) -> None:
    """Tell the event feed (the dashboards) of broadcasts going on or off the air."""
    for areas, fields in items:
        await feed.publish(services.redis, "broadcast", areas, **fields)
