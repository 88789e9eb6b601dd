"""A bounded queue that one loop empties in batches: whatever queued while the last batch was
handled, up to a limit. Under a burst the batches grow and the cost per message falls (one
transaction, one pipeline); when it is quiet each message is handled alone, at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Batches(Generic[T]):
    """Items queued by put(), handled by run() in batches of at most max_batch."""

    def __init__(self, name: str, handle: Callable[[list[T]], Awaitable[None]], max_batch: int = 500,
                 limit: int = 5000) -> None:
        self.name = name
        self.handle = handle
        self.max_batch = max_batch
        self.queue: asyncio.Queue[T] = asyncio.Queue(limit)  # full: put() waits (the inbox holds the rest)

    async def put(self, item: T) -> None:
        """Queue an item (waits while the queue is full)."""
        await self.queue.put(item)

    async def run(self) -> None:
        """Handle batches until cancelled; a failing batch is logged and the loop goes on."""
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.max_batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                await self.handle(batch)
            except Exception:
                log.exception("%s: a batch of %s failed", self.name, len(batch))
