"""The live sessions this controller runs, by broadcast."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from ..context import Services
from . import station_proxy
from .sessions import LiveSession
from .sources import MicrophoneFeed, shown_url

log = logging.getLogger(__name__)


class LiveError(ValueError):
    """A live source cannot be attached; the message says why."""


class LiveSessions:
    """Starts, finds and stops this controller's live sessions."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._running: dict[str, tuple[LiveSession, asyncio.Task[str]]] = {}

    def start_relay(self, broadcast_id: str, url: str, ends_ms: int | None = None) -> None:
        """Pull the station and put it on the air (until ends_ms, for a scheduled window)."""
        log.info("live %s: relaying %s", broadcast_id, shown_url(url))
        allowed = self.services.settings.relay_networks()
        session = LiveSession(self.services, broadcast_id, "relay", ends_ms)
        self._start(session, station_proxy.station_pcm(url, allowed))

    def attach_microphone(self, broadcast_id: str) -> tuple[LiveSession, MicrophoneFeed]:
        """The session of the console's microphone and the feed it reads; one at a time per broadcast."""
        if broadcast_id in self._running:
            raise LiveError("this broadcast already has its source")
        feed = MicrophoneFeed()
        session = LiveSession(self.services, broadcast_id, "microphone")
        self._start(session, feed.blocks())
        return session, feed

    def session(self, broadcast_id: str) -> LiveSession | None:
        """The running session of a broadcast, if this controller runs it."""
        running = self._running.get(broadcast_id)
        return running[0] if running else None

    async def wait(self, broadcast_id: str) -> str | None:
        """Until the session ends; returns why (None when it does not run here)."""
        running = self._running.get(broadcast_id)
        return await asyncio.shield(running[1]) if running else None

    def stop(self, broadcast_id: str, reason: str = "stopped") -> None:
        """Ask a session to end: `stopped` (by an operator), else the reason it is `done`."""
        running = self._running.get(broadcast_id)
        if running is not None:
            running[0].stop(reason)

    def running(self) -> list[str]:
        """The broadcasts whose sessions run here."""
        return list(self._running)

    async def close(self) -> None:
        """End every session (the controller stops; another may take a scheduled relay up)."""
        for session, _ in self._running.values():
            session.stop("controller_stopped")
        await asyncio.gather(*(task for _, task in self._running.values()), return_exceptions=True)

    def _start(self, session: LiveSession, blocks: AsyncIterator[bytes]) -> None:
        task = asyncio.create_task(session.run(blocks), name=f"live-{session.broadcast_id}")
        self._running[session.broadcast_id] = (session, task)
        task.add_done_callback(lambda _: self._running.pop(session.broadcast_id, None))
