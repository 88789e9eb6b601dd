"""The fleet's event feed: clusters going online or offline, what they aired, broadcasts on and off
the air, as the console's dashboard shows them live.

Events are kept in one Redis stream (the last FEED_LENGTH of them), so every controller's API can
serve them and a reconnecting page resumes after the last event it saw. Each event names the
areas it concerns; a reader sees only the events of areas in their scope.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .redis_text import text

log = logging.getLogger(__name__)

FEED_KEY = "loa:feed"
FEED_LENGTH = 2000


async def publish(redis: Redis, kind: str, areas: list[str], **fields: Any) -> None:
    """Add an event of kind (online, offline, receipt, broadcast) about areas; never raises."""
    event = {"type": kind, "at_ms": int(time.time() * 1000), "areas": sorted(set(areas)), **fields}
    try:
        await redis.xadd(FEED_KEY, {"event": json.dumps(event)}, maxlen=FEED_LENGTH, approximate=True)
    except RedisError as exc:
        log.warning("feed: event not kept (%s)", exc)


async def publish_many(redis: Redis, events: list[tuple[str, list[str], dict[str, Any]]]) -> None:
    """Add many events (kind, areas, fields) in one round trip; never raises."""
    if not events:
        return
    now = int(time.time() * 1000)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for kind, areas, fields in events:
                event = {"type": kind, "at_ms": now, "areas": sorted(set(areas)), **fields}
                pipe.xadd(FEED_KEY, {"event": json.dumps(event)}, maxlen=FEED_LENGTH, approximate=True)
            await pipe.execute()
    except RedisError as exc:
        log.warning("feed: %s events not kept (%s)", len(events), exc)


Event = dict[str, Any]


async def after(redis: Redis, last_id: str, wait_ms: int, count: int = 200) -> list[tuple[str, Event]]:
    """Up to count (id, event) after last_id, waiting up to wait_ms."""
    answer = await redis.xread({FEED_KEY: last_id}, count=count, block=wait_ms)
    streams: Any = answer.items() if isinstance(answer, dict) else answer  # RESP3 answers a mapping
    events: list[tuple[str, Event]] = []
    for _, entries in streams:
        events.extend((text(event_id), _event(fields)) for event_id, fields in entries)
    return events


async def before(redis: Redis, count: int) -> list[tuple[str, Event]]:
    """The newest count events, newest first."""
    newest: Any = await redis.xrevrange(FEED_KEY, count=count)
    return [(text(event_id), _event(fields)) for event_id, fields in newest]


async def last_id(redis: Redis) -> str:
    """The id of the newest event ("0-0" when there is none), to follow from now on."""
    newest: Any = await redis.xrevrange(FEED_KEY, count=1)
    return text(newest[0][0]) if newest else "0-0"


def _event(fields: Any) -> Event:
    """A stream entry's fields (bytes or text keys) as its event."""
    decoded = {text(name): text(value) for name, value in fields.items()}
    event: Event = json.loads(decoded["event"])
    return event


def visible(event: dict[str, Any], scope: set[str] | None) -> bool:
    """Whether a reader with this scope (None: everything) may see the event."""
    return scope is None or any(area in scope for area in event.get("areas", []))
