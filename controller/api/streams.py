"""Server-sent event streams: one response shape for all of them, ended when the controller stops.

The server waits for open responses before it shuts the application down, and a stream is open
for up to an hour: each stream therefore also watches `Services.stopping` and ends at once when
it is set, whatever it is waiting for. The browser's EventSource then reconnects by itself (to
this controller once it is back, or to another one behind the same address) with the id of the
last event it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

from fastapi.responses import StreamingResponse
from redis.exceptions import ConnectionError as RedisConnectionError

from .. import redis_client
from ..context import Services


async def event_stream(services: Services, events: AsyncGenerator[str, None]) -> StreamingResponse:
    """A text/event-stream response of events (already formatted) that ends when the controller stops.

    The events come from Redis: while it does not answer, the request gets the 503 other calls get
    (redis_unavailable), not a stream that opens and closes at once."""
    if not await redis_client.reachable(services.redis):
        await events.aclose()
        raise RedisConnectionError("Redis did not answer before the stream opened")  # 503, Retry-After
    return StreamingResponse(until_stopping(events, services.stopping), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def until_stopping(events: AsyncGenerator[str, None],
                         stopping: asyncio.Event) -> AsyncGenerator[str, None]:
    """The items of events until they end or stopping is set (the wait for the next one is cancelled)."""
    stopped = asyncio.ensure_future(stopping.wait())
    step: asyncio.Future[str] | None = None
    try:
        while not stopping.is_set():
            step = asyncio.ensure_future(anext(events))
            await asyncio.wait((step, stopped), return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                return
            try:
                item = step.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        stopped.cancel()
        if step is not None and not step.done():
            step.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await step
        await events.aclose()
