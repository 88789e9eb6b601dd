"""Putting a broadcast on the air and taking it off: write or withdraw its occurrences, track its
delivery, publish each target once, tell the feed.

Only the airtime service and the live sessions it runs call these; every other road asks the
service. Publishing happens after the change is committed, so a device never hears of something
the database does not hold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loalang_protocol.mqtt import NotConnected

from ..broadcasting import broadcasts, delivery, on_air
from ..broadcasting.broadcasts import OnAir
from ..context import Services
from ..db.models import Broadcast
from ..fleet import desired

log = logging.getLogger(__name__)

TAKEN_OFF = ("on_air", "awaiting_confirmation")


async def go_on_air(services: Services, session: Session, broadcast: Broadcast, *,
                    margin_ms: int | Callable[[int], int],
                    prelude_ms: int = 0, valid_until_ms: int | None = None,
                    source: dict[str, Any] | None = None, news: Sequence[on_air.News] = ()) -> OnAir:
    """Write the broadcast's occurrences (committing them), track delivery from here, tell the feed
    the news, publish the targets."""
    written = await write_on_air(services, session, broadcast, margin_ms=margin_ms, prelude_ms=prelude_ms,
                                 valid_until_ms=valid_until_ms, source=source)
    await on_air.announce(services, list(news))
    await desired.publish_targets(services, written.targets)
    return written


async def write_on_air(services: Services, session: Session, broadcast: Broadcast, *,
                       margin_ms: int | Callable[[int], int],
                       prelude_ms: int = 0, valid_until_ms: int | None = None,
                       source: dict[str, Any] | None = None) -> OnAir:
    """go_on_air without the publication: for a live session, which publishes its targets itself
    (again and again while the broker is away)."""
    written = broadcasts.put_on_air(session, broadcast, int(time.time() * 1000), margin_ms, prelude_ms,
                                    valid_until_ms, source)
    session.commit()
    online = await services.presence.online_among(list(written.reach))
    await delivery.begin(services.redis, broadcast.id, written.reach, online, written.occurrences)
    return written


async def take_off_air(services: Services, actor: str, broadcast_ids: list[str], status: str = "stopped",
                       **told: Any) -> list[str]:
    """Withdraw these broadcasts where they are still on the air (or awaiting confirmation), publish
    their targets again and tell the feed; returns those withdrawn. status: `stopped` by someone,
    or `done` when the broadcast ended by itself."""
    withdrawn, targets, news = [], set(), []
    now_ms = int(time.time() * 1000)
    with services.db.session() as session:
        query = select(Broadcast).where(Broadcast.id.in_(broadcast_ids), Broadcast.status.in_(TAKEN_OFF))
        for broadcast in session.scalars(query):
            targets.update(broadcasts.withdraw(session, actor, broadcast))
            broadcast.status = status
            if broadcast.live_kind and broadcast.start_ms is not None:  # it lasted until now
                broadcast.duration_ms, broadcast.max_lateness_ms = max(1, now_ms - broadcast.start_ms), 0
            withdrawn.append(broadcast.id)
            news.append(on_air.news(session, broadcast, **told))
    try:
        await publish(services, sorted(targets))
    except (NotConnected, TimeoutError) as exc:
        # Committed: each device gets the withdrawal when the broker is back (its birth shows it
        # holds an older state, and the controller sends the current one).
        log.warning("broker unreachable (%s): %d withdrawn broadcasts reach their devices when it is back",
                    type(exc).__name__, len(withdrawn))
    finally:  # the change is committed: the feed hears of it even while the broker is away
        await on_air.announce(services, news)
    return withdrawn


async def publish(services: Services, targets: list[str]) -> None:
    """Publish the desired state of targets (`area:ID`, `device:ID`) whose versions were bumped."""
    if targets:
        await desired.publish_targets(services, targets)
