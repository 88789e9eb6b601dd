"""The fleet's event feed as server-sent events, for the console's dashboard."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncGenerator
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse
from redis.exceptions import RedisError

from .. import feed
from ..context import Services
from ..errors import DomainError
from .deps import ServicesDep, ViewerDep
from .streams import event_stream

log = logging.getLogger(__name__)
router = APIRouter(tags=["devices"])

EVENT_ID = re.compile(r"[0-9]{1,15}-[0-9]{1,10}")
RECENT = 20  # events shown at once to a new reader
STREAM_MAX_S = 3600  # a reader reconnects (with Last-Event-ID) after this long
WAIT_MS = 5_000  # one blocking read at most this long: well inside the Redis client's socket timeout
KEEPALIVE_S = 15.0  # a comment after this long without an event keeps proxies from closing the stream


@router.get("/feed", summary="Follow the fleet's events as server-sent events",
            response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def follow_feed(
    services: ServicesDep, principal: ViewerDep,
    last_event_id: Annotated[str | None, Header(description="resume after this event")] = None,
) -> StreamingResponse:
    """Clusters going online and offline, what they aired, broadcasts on and off the air, in your scope.

    A new reader first gets the last few events; one that reconnects with `Last-Event-ID` gets
    the events after it.
    """
    if last_event_id is not None and not EVENT_ID.fullmatch(last_event_id):
        raise DomainError("bad_event_id", "Last-Event-ID is not an id this stream sent", 400, "Last-Event-ID")
    return await event_stream(services, _stream(services, principal.scope, last_event_id))


async def _stream(services: Services, scope: set[str] | None,
                  last_id: str | None) -> AsyncGenerator[str, None]:
    if last_id is None:
        last_id = await feed.last_id(services.redis)
        for event_id, event in await _recent(services, scope):
            yield _message(event_id, event)
    deadline = time.monotonic() + STREAM_MAX_S
    spoken = time.monotonic()
    while time.monotonic() < deadline:
        try:
            events = await feed.after(services.redis, last_id, WAIT_MS)
        except RedisError as exc:  # end the stream cleanly: the reader reconnects with Last-Event-ID
            log.warning("feed: reading the events failed (%s); the stream ends", exc)
            return
        if not events and time.monotonic() - spoken >= KEEPALIVE_S:
            spoken = time.monotonic()
            yield ": still here\n\n"
        for last_id, event in events:
            if feed.visible(event, scope):
                spoken = time.monotonic()
                yield _message(last_id, event)


async def _recent(services: Services, scope: set[str] | None) -> list[tuple[str, feed.Event]]:
    newest = await feed.before(services.redis, count=RECENT * 10)
    return [(i, e) for i, e in newest if feed.visible(e, scope)][:RECENT][::-1]


def _message(event_id: str, event: dict[str, Any]) -> str:
    shown = {key: value for key, value in event.items() if key != "areas"}
    return f"id: {event_id}\ndata: {json.dumps(shown)}\n\n"
