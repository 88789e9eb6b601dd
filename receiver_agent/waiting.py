"""Waiting that something else can cut short."""

from __future__ import annotations

import asyncio


async def wait_at_most(event: asyncio.Event, seconds: float) -> None:
    """Until event is set or seconds have passed. A timer that sets the event costs a fraction of
    `asyncio.wait_for`, which makes and cancels a task each time: a simulator wakes thousands of
    these loops around a start."""
    timer = asyncio.get_running_loop().call_later(seconds, event.set)
    try:
        await event.wait()
    finally:
        timer.cancel()
