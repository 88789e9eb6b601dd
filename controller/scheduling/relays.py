"""Scheduled relays: a station on the air in each window its schedule opens, run by the leader.

A relay bulletin names a station and a window length; each play of its schedule opens a window.
While a window is open, the scheduler's leader runs one live relay session for it: a broadcast at
the bulletin's level (usually background, so any bulletin cuts in and the station comes back
after) to the schedule's targets, marked with the schedule and the window's start. It ends when
the window closes, when the schedule is stopped or its bulletin withdrawn, or when an operator
stops it, and then the window stays off the air. A station that fails or falls silent is tried
again every RETRY_S while its window is open, each try a broadcast of its own, so the reports show
the gaps as they were.

A new leader finds the window's broadcast still on the air but not running here: it withdraws it
(the old controller's session, if it still runs, sees that within a second and ends; if that
controller is dead, the receivers' lease runs out anyway) and opens its own. Receivers hear a gap
of about the time the lock takes to change hands.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..airtime import publishing
from ..airtime.service import Airtime
from ..broadcasting import broadcasts
from ..context import Services
from ..db.models import Broadcast, Bulletin, Schedule
from .leader import Leadership
from .recurrence import RecurrenceError
from .schedules import recurrence_of

log = logging.getLogger(__name__)

RETRY_S = 30.0
WindowKey = tuple[str, int]  # (schedule, window start)


@dataclass(frozen=True)
class Window:
    """One open window of a relay schedule."""

    schedule: str
    start_ms: int
    end_ms: int
    bulletin: str
    url: str

    @property
    def key(self) -> WindowKey:
        """Which window this is, whoever leads."""
        return self.schedule, self.start_ms


def open_windows(session: Session, now_ms: int) -> dict[WindowKey, Window]:
    """The windows of active relay schedules of approved bulletins that are open at now_ms."""
    query = (select(Schedule, Bulletin).join(Bulletin, Schedule.bulletin_id == Bulletin.id)
             .where(Schedule.active.is_(True), Bulletin.status == "approved", Bulletin.relay_url.is_not(None),
                    Bulletin.duration_ms.is_not(None)))
    windows: dict[WindowKey, Window] = {}
    for schedule, bulletin in session.execute(query):
        length_ms = int(bulletin.duration_ms or 0)
        try:
            starts = recurrence_of(schedule).between(now_ms - length_ms + 1, now_ms + 1)
        except (RecurrenceError, ValueError) as exc:
            log.warning("relay schedule %s cannot be expanded: %s", schedule.id, exc)
            continue
        for start in starts:
            if start <= now_ms < start + length_ms:
                window = Window(schedule.id, start, start + length_ms, bulletin.id, str(bulletin.relay_url))
                windows[window.key] = window
    return windows


class ScheduledRelays:
    """The relay sessions the leader runs, one per open window."""

    def __init__(self, services: Services, leadership: Leadership, airtime: Airtime) -> None:
        self.services = services
        self.leadership = leadership
        self.live = airtime.live
        self._mine: dict[WindowKey, str] = {}  # window -> its broadcast, running here
        self._retry_at: dict[WindowKey, float] = {}

    async def step(self, now_ms: int) -> None:
        """Open the windows that are open and not on the air; end those that closed."""
        live = self.live
        windows = await asyncio.to_thread(self._open_windows, now_ms)
        running = set(live.running())
        for key, broadcast_id in list(self._mine.items()):
            if broadcast_id not in running:  # the station failed, or an operator stopped it
                del self._mine[key]
                self._retry_at[key] = time.monotonic() + RETRY_S
            elif key not in windows:
                live.stop(broadcast_id, "window_closed")
        self._retry_at = {key: at for key, at in self._retry_at.items() if key in windows}
        for key, window in windows.items():
            if key not in self._mine and self._retry_at.get(key, 0.0) <= time.monotonic():
                await self._open(window, now_ms)

    def stop_all(self) -> None:
        """This controller no longer leads: end its relay sessions (the new leader opens its own)."""
        for broadcast_id in self._mine.values():
            self.live.stop(broadcast_id, "leader_changed")
        self._mine.clear()

    def _open_windows(self, now_ms: int) -> dict[WindowKey, Window]:
        with self.services.db.session() as session:
            return open_windows(session, now_ms)

    async def _open(self, window: Window, now_ms: int) -> None:
        if not await self.leadership.still_leading():
            return
        superseded = await asyncio.to_thread(self._left_on_air, window)
        if superseded is None:
            self._retry_at[window.key] = float("inf")  # an operator took this window off the air
            return
        await publishing.take_off_air(self.services, "scheduler", superseded, status="done")
        broadcast_id = await asyncio.to_thread(self._new_broadcast, window)
        if broadcast_id is None:
            self._retry_at[window.key] = float("inf")  # an operator took this window off the air
            return
        self._mine[window.key] = broadcast_id
        self.live.start_relay(broadcast_id, window.url, ends_ms=window.end_ms)
        log.info("relay schedule %s: window open until %d (%s)", window.schedule, window.end_ms, broadcast_id)

    def _left_on_air(self, window: Window) -> list[str] | None:
        """The window's broadcasts another leader left on the air (to withdraw before opening it here);
        None when an operator stopped this window."""
        with self.services.db.session() as session:
            earlier = list(session.scalars(select(Broadcast).where(
                Broadcast.schedule_id == window.schedule, Broadcast.window_start_ms == window.start_ms)))
            if any(b.status == "stopped" for b in earlier):
                return None
            return [b.id for b in earlier if b.status == "on_air"]

    def _new_broadcast(self, window: Window) -> str | None:
        """The window's broadcast, made for the schedule's author (the gate decided when it was made)."""
        with self.services.db.session() as session:
            schedule = session.get(Schedule, window.schedule)
            bulletin = session.get(Bulletin, window.bulletin)
            if schedule is None or bulletin is None:
                return None
            broadcast = broadcasts.create(session, schedule.created_by, {
                "title": bulletin.title, "level": bulletin.level, "bulletin_id": bulletin.id,
                "live": {"kind": "relay", "url": window.url}, "area_ids": list(schedule.area_ids),
                "device_ids": list(schedule.device_ids), "quiet_override": schedule.quiet_override,
            }, None, awaiting=False)
            broadcast.schedule_id, broadcast.window_start_ms = schedule.id, window.start_ms
            return broadcast.id
