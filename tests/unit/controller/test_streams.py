"""Event streams end when their events end, and at once when the controller stops, whatever they
wait for; the events' own generator is closed either way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator

import pytest

from controller.api.streams import until_stopping

pytestmark = pytest.mark.unit


class Events:
    """A generator of events that waits long after the first ones; notes whether it was closed."""

    def __init__(self, first: list[str], wait_s: float = 3600.0) -> None:
        self.first, self.wait_s, self.closed = first, wait_s, False

    async def generate(self) -> AsyncGenerator[str, None]:
        try:
            for item in self.first:
                yield item
            await asyncio.sleep(self.wait_s)
            yield "late"
        finally:
            self.closed = True


async def read(stream: AsyncGenerator[str, None]) -> list[str]:
    return [item async for item in stream]


async def test_the_events_pass_through_until_they_end() -> None:
    events = Events(["a", "b"], wait_s=0.0)
    assert await read(until_stopping(events.generate(), asyncio.Event())) == ["a", "b", "late"]
    assert events.closed


async def test_a_stream_waiting_for_its_next_event_ends_as_soon_as_the_controller_stops() -> None:
    events = Events(["a"])
    stopping = asyncio.Event()
    asyncio.get_running_loop().call_later(0.2, stopping.set)
    started = time.monotonic()
    assert await read(until_stopping(events.generate(), stopping)) == ["a"]
    assert time.monotonic() - started < 1.0
    assert events.closed, "the waiting generator was closed"


async def test_a_stream_opened_while_stopping_ends_at_once() -> None:
    events = Events(["a"])
    stopping = asyncio.Event()
    stopping.set()
    assert await read(until_stopping(events.generate(), stopping)) == []
