"""Putting a broadcast on the air: write it, start tracking its delivery, publish each target once."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.orm import Session

from .. import feed
from ..context import Services
from ..db.models import Broadcast
from ..fleet import desired
from . import broadcasts, delivery

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


async def start(services: Services, session: Session, broadcast: Broadcast, prelude_ms: int = 0,
                valid_until_ms: int | None = None) -> None:
    """Write the occurrences (committing them), track delivery from here, publish the targets.

    A live broadcast goes on the air with its source's first audio instead: a relay is pulled
    now; a microphone waits for the console to connect it.
    """
    await announce(services, [news(session, broadcast)])
    if broadcast.live_kind is not None:
        session.commit()
        if broadcast.live_kind == "relay" and services.live is not None:
            services.live.start_relay(broadcast.id, broadcast.live_url or "")
        return
    written = broadcasts.put_on_air(session, broadcast, int(time.time() * 1000),
                                    services.settings.broadcast_margin_ms, prelude_ms, valid_until_ms)
    session.commit()
    online = set()
    for device_id in written.reach:
        presence = await services.presence.get(device_id)
        if presence is not None and presence.online:
            online.add(device_id)
    await delivery.begin(services.redis, broadcast.id, written.reach, online, written.occurrences)
    await desired.publish_targets(services, written.targets)
