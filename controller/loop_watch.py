"""The event loop's watch: say when the loop stops, and where.

Everything the controller does runs on one event loop: the API, the broker link, the scheduler,
live audio. A call that blocks it (a lock waited for on the loop's thread, a long computation)
stops all of that at once, and from outside it only shows as timeouts elsewhere. A thread beside the
loop watches a heartbeat the loop writes every TICK_S; when the beat is more than STALL_S old it
logs the loop's own stack at that moment (what it is stuck in), and when the loop is back, how long
it stood. It also names a database write held while the loop runs other tasks (an await between a
write and its commit: controller/db/write_guard.py), which would stop the loop at the next write.
The figures are in the system status (`loop`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback

from .db.write_guard import WriteGuard

log = logging.getLogger(__name__)

TICK_S = 0.1
STALL_S = 1.0  # a loaded machine delays the loop by a few ticks; a second is a stall
HELD_S = 1.0  # a write held this long while the loop beats is held across an await
STACK_FRAMES = 12


class LoopWatch:
    """A heartbeat on the loop and a thread that reads it."""

    def __init__(self, guard: WriteGuard | None) -> None:
        self.guard = guard
        self.stalls = 0
        self.longest_stall_ms = 0
        self.writes_held_across_awaits = 0
        self._beat = time.monotonic()
        self._loop_thread = 0
        self._stalled_since: float | None = None
        self._told_holders: set[tuple[int, float]] = set()
        self._stop = threading.Event()

    async def run(self) -> None:
        """Beat on the loop and watch from a thread until cancelled."""
        self._loop_thread = threading.get_ident()
        self._stop.clear()
        watcher = threading.Thread(target=self._watch, name="loop-watch", daemon=True)
        watcher.start()
        try:
            while True:
                self._beat = time.monotonic()
                await asyncio.sleep(TICK_S)
        finally:
            self._stop.set()

    def figures(self) -> dict[str, int]:
        """What the system status shows."""
        return {"stalls": self.stalls, "longest_stall_ms": self.longest_stall_ms,
                "writes_held_across_awaits": self.writes_held_across_awaits}

    def _watch(self) -> None:
        while not self._stop.wait(TICK_S):
            now = time.monotonic()
            lag = now - self._beat
            if lag > STALL_S and self._stalled_since is None:
                self._stalled_since = self._beat
                log.warning("event loop blocked for %.1f s so far, in:\n%s", lag, self._loop_stack())
            elif lag <= STALL_S and self._stalled_since is not None:
                self._stall_ended(self._beat - self._stalled_since)
            if lag <= STALL_S:
                self._check_held_writes(now)

    def _stall_ended(self, stood_s: float) -> None:
        self._stalled_since = None
        self.stalls += 1
        self.longest_stall_ms = max(self.longest_stall_ms, int(stood_s * 1000))
        log.warning("event loop was blocked for %.1f s", stood_s)

    def _loop_stack(self) -> str:
        frame = sys._current_frames().get(self._loop_thread)
        return "".join(traceback.format_stack(frame, limit=STACK_FRAMES)).rstrip() if frame else "(no stack)"

    def _check_held_writes(self, now: float) -> None:
        if self.guard is None:
            return
        held = [h for h in self.guard.held_on(self._loop_thread) if now - h.since > HELD_S]
        for holder in held:
            key = (holder.thread, holder.since)
            if key not in self._told_holders:
                self.writes_held_across_awaits += 1
                log.error("a database write held for %.1f s while the loop runs other tasks (an await "
                          "before its commit); it began at:\n%s", now - holder.since, holder.where())
        self._told_holders = {(h.thread, h.since) for h in held}
