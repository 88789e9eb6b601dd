"""A wait that something else cuts short."""

from __future__ import annotations

import asyncio
import time

import pytest

from receiver_agent.waiting import wait_at_most

pytestmark = pytest.mark.unit


def test_the_wait_ends_when_the_event_is_set() -> None:
    async def scenario() -> float:
        event = asyncio.Event()
        asyncio.get_running_loop().call_later(0.05, event.set)
        started = time.monotonic()
        await wait_at_most(event, 30.0)
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 10.0


def test_the_wait_ends_after_its_time_and_leaves_the_event_set() -> None:
    async def scenario() -> bool:
        event = asyncio.Event()
        await wait_at_most(event, 0.05)
        return event.is_set()

    assert asyncio.run(scenario()) is True
