"""Area states that births showed stale, published again: debounced, and each area at most once per
gap, whatever the number of births that ask.

A birth names the area versions its device holds; the bridge asks here for the stale ones of the
device's own chain (its area and those above it). A province's state reaches every board of the
province, so a board that reconnects in a loop (or a stolen password) must not make it go out
again and again: an area published less than `min_gap_s` ago waits, and goes once its gap is
over, so no asking board is left without it. Memory holds only the areas waiting and those
published within the gap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

log = logging.getLogger(__name__)

RESYNC_DEBOUNCE_S = 1.0
AREA_RESYNC_GAP_S = 5.0


class AreaResync:
    """The stale areas to publish again, each no more often than once per min_gap_s."""

    def __init__(self, publish: Callable[[str], Awaitable[None]], debounce_s: float = RESYNC_DEBOUNCE_S,
                 min_gap_s: float = AREA_RESYNC_GAP_S) -> None:
        self.publish = publish
        self.debounce_s = debounce_s
        self.min_gap_s = min_gap_s
        self.deferred = 0  # areas asked for within their gap (counted once per asking)
        self._stale: set[str] = set()
        self._published: dict[str, float] = {}  # area -> when published again (monotonic)
        self._wake = asyncio.Event()

    def want(self, area_ids: Iterable[str]) -> None:
        """Ask for these areas' states to be published again."""
        self._stale.update(area_ids)
        self._wake.set()

    async def run(self) -> None:
        """Publish what is due, a debounce after it was asked for, until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self.debounce_s)
            await self.flush(time.monotonic())

    async def flush(self, now: float) -> list[str]:
        """Publish the areas whose gap is over; the others wait for the next round. Returns those
        published."""
        self._published = {a: t for a, t in self._published.items() if now - t < self.min_gap_s}
        due = sorted(self._stale - self._published.keys())
        self.deferred += len(self._stale) - len(due)
        self._stale -= set(due)
        for area_id in due:
            self._published[area_id] = now
            try:
                await self.publish(area_id)
            except Exception:  # the retained copy and the next change still reach the boards
                log.exception("area %s: desired state not published again", area_id)
        if self._stale:
            self._wake.set()
        return due
