"""A live session rides out a broker outage: a chunk the broker does not take is dropped and counted
(never raised), the lease it could not publish is published again as soon as the broker is back,
and an ended live broadcast's report waits for its receivers no longer than its lease."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest

from controller.broadcasting.reports import GRACE_MS, _over
from controller.counters import Counters
from controller.db.models import Broadcast
from controller.fleet import desired
from controller.live.sessions import LiveSession
from controller.settings import Settings
from loalang_protocol.chunks import AudioChunk
from loalang_protocol.mqtt import NotConnected

pytestmark = pytest.mark.unit


class Link:
    """Takes publications while up, refuses them (NotConnected) while down."""

    def __init__(self) -> None:
        self.up = True
        self.published: list[str] = []
        self.connected = asyncio.Event()
        self.connected.set()

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        if not self.up:
            raise NotConnected(topic)
        self.published.append(topic)


def session_on(link: Link) -> LiveSession:
    services: Any = SimpleNamespace(settings=Settings(environment="test"), link=link, counters=Counters())
    return LiveSession(services, "bc-1", "microphone")


def chunk(seq: int) -> AudioChunk:
    return AudioChunk(seq=seq, pts_us=time.time_ns() // 1000, duration_us=200_000, frames=(b"\xf8\xff\xfe",))


async def test_chunks_the_broker_does_not_take_are_dropped_and_counted_until_it_is_back() -> None:
    link = Link()
    session = session_on(link)
    await session._publish(chunk(0))
    link.up = False
    await session._publish(chunk(1))
    await session._publish(chunk(2))
    assert not session.delivering and session.changed.is_set()
    assert session.stats.undelivered == 2
    assert session.services.counters.snapshot() == {"live.chunks_undelivered": 2}
    session.changed.clear()
    link.up = True
    await session._publish(chunk(3))
    assert session.delivering and session.changed.is_set()
    assert len(link.published) == 2 and session.stats.chunks == 2


async def test_a_lease_not_published_is_due_again_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    refused = True

    async def publish_targets(services: Any, keys: list[str]) -> None:
        if refused:
            raise NotConnected("loa/v1/area/thon-a/desired")

    monkeypatch.setattr(desired, "publish_targets", publish_targets)
    session = session_on(Link())
    await session._publish_lease()
    assert session.stats.renewals_failed == 1 and session._renew_at <= time.monotonic()
    refused = False
    await session._publish_lease()
    assert session._renew_at > time.monotonic() + 5, "the next renewal a third of the lease later"


def live(status: str, ended_ms_ago: int) -> Broadcast:
    now = int(time.time() * 1000)
    return Broadcast(id="bc-1", live_kind="relay", status=status, start_ms=now - ended_ms_ago - 60_000,
                     duration_ms=60_000, max_lateness_ms=0)


def test_an_ended_live_broadcast_waits_for_its_receipts_until_its_lease_has_run_out() -> None:
    lease_ms, now = 20_000, int(time.time() * 1000)
    playing = {"d1": {"state": "completed"}, "d2": {"state": "playing"}}
    assert not _over(live("stopped", 5_000), playing, now, lease_ms), "a receipt may still come"
    assert _over(live("stopped", 5_000), {"d1": {"state": "completed"}}, now, lease_ms)
    assert _over(live("done", lease_ms + GRACE_MS + 1_000), playing, now, lease_ms)
    assert _over(live("on_air", 0), playing, now, lease_ms), "asked only once its lease ran out"


async def endless_blocks() -> Any:
    """A source that always has the next block ready as soon as it is asked again: a microphone's
    backlog after an outage."""
    while True:
        await asyncio.sleep(0)
        yield bytes(960)


async def test_a_stopped_session_ends_while_its_source_always_has_audio_ready(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopping cancels the pump; a cancellation that arrives as the next block does must still end
    it (Python 3.11's asyncio.wait_for dropped such a cancellation: the session then ran on, on the
    air, until its microphone hung up)."""
    async def taken_off_air(self: LiveSession, reason: str) -> None:
        return None

    monkeypatch.setattr(LiveSession, "_end", taken_off_air)
    for attempt in range(40):
        session = session_on(Link())
        session.start_ms = int(time.time() * 1000)
        monkeypatch.setattr(session.chunker, "feed", lambda block, arrived: [])
        running = asyncio.create_task(session.run(endless_blocks()))
        await asyncio.sleep(0.01 + attempt * 0.001)
        session.stop()
        done, _ = await asyncio.wait({running}, timeout=3)
        if not done:
            running.cancel()
        assert done, f"stop {attempt + 1}: the session went on after it was stopped"
        assert running.result() == "stopped"
