"""The playout engine on the null card: a start handed to the player early, on time however busy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from loalang_protocol.keys import KeyPair
from receiver_agent.amplifier import Amplifier, FileRelay
from receiver_agent.audio.null import NullSoundCard
from receiver_agent.clock import ClockSync
from receiver_agent.media.cache import MediaCache
from receiver_agent.playout.engine import Engine
from receiver_agent.playout.schedule import Schedule
from receiver_agent.timekeeper import TimeKeeper

pytestmark = pytest.mark.unit

Receipts = list[tuple[str, dict[str, Any]]]


def make_engine(tmp_path: Path, receipts: Receipts) -> Engine:
    async def record(kind: str, data: dict[str, Any]) -> None:
        receipts.append((kind, data))

    return Engine(
        schedule=Schedule(tmp_path / "schedule.json"),
        cache=MediaCache(tmp_path / "cache", "http://127.0.0.1:9", "dev-1", KeyPair.generate()),
        sink=NullSoundCard(), amplifier=Amplifier(FileRelay(tmp_path / "amplifier"), lead_s=0.5),
        timekeeper=TimeKeeper(ClockSync(), lambda: True), record=record,
        attention=tmp_path / "attention.wav", volume=lambda: 70, decode=False)


@asynccontextmanager
async def running(*engines: Engine) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(engine.run()) for engine in engines]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def tone(occurrence_id: str, start_ms: int, level: str = "normal") -> dict[str, Any]:
    return {"id": occurrence_id, "level": level, "start_ms": start_ms, "duration_ms": 1000,
            "source": {"type": "tone", "frequency_hz": 440}}


async def wait_for_receipt(receipts: Receipts, kind: str, occurrence: str) -> dict[str, Any]:
    for _ in range(500):
        for found, data in receipts:
            if found == kind and data.get("occurrence") == occurrence:
                return data
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {kind} receipt for {occurrence}: {receipts}")


def test_a_start_is_handed_to_the_player_as_the_amplifier_switches_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        receipts: Receipts = []
        engine = make_engine(tmp_path, receipts)
        start_ms = int(time.time() * 1000) + 1500
        engine.schedule.take("device", 0, [tone("o-first", start_ms)], None, start_ms - 1500)
        async with running(engine):
            while time.time() * 1000 < start_ms - 250:
                await asyncio.sleep(0.01)
            assert engine.current is not None and engine.current.item.id == "o-first", \
                "a quarter of a second before its start, the item is with the player"
            assert engine.amplifier.on
            started = await wait_for_receipt(receipts, "started", "o-first")
            assert abs(started["late_ms"]) <= 20
            await wait_for_receipt(receipts, "completed", "o-first")

    asyncio.run(scenario())


def test_receivers_sharing_a_busy_processor_all_start_on_time(tmp_path: Path) -> None:
    """Twenty receivers in one event loop, each taking 5 ms to hand its start over (a slow board, a
    simulator's process): decided at the last moment, the last ones would start 40 ms late."""
    async def scenario() -> None:
        receipts: Receipts = []
        engines = [make_engine(tmp_path / f"r{n}", receipts) for n in range(20)]
        start_ms = int(time.time() * 1000) + 1500
        for n, engine in enumerate(engines):
            engine.schedule.take("device", 0, [tone(f"o-{n}", start_ms)], None, start_ms - 1500)
            slow_start = engine._start

            async def start(*args: Any, _start: Any = slow_start) -> None:
                time.sleep(0.005)
                await _start(*args)

            engine._start = start  # type: ignore[method-assign]
        async with running(*engines):
            late = [(await wait_for_receipt(receipts, "started", f"o-{n}"))["late_ms"] for n in range(20)]
            assert max(abs(ms) for ms in late) <= 20, late

    asyncio.run(scenario())


def test_an_emergency_still_cuts_in_before_an_armed_item_sounds(tmp_path: Path) -> None:
    async def scenario() -> None:
        receipts: Receipts = []
        engine = make_engine(tmp_path, receipts)
        start_ms = int(time.time() * 1000) + 1500
        engine.schedule.take("device", 0, [tone("o-normal", start_ms)], None, start_ms - 1500)
        async with running(engine):
            while engine.current is None:
                await asyncio.sleep(0.01)
            engine.schedule.take("area", 1, [tone("o-alarm", start_ms, "emergency")], None, start_ms - 400)
            engine.wake()
            alarm = await wait_for_receipt(receipts, "started", "o-alarm")
            assert abs(alarm["late_ms"]) <= 20
            cut = await wait_for_receipt(receipts, "interrupted", "o-normal")
            assert cut["position_ms"] == 0, "the armed item had not sounded"
            assert not any(kind == "started" and data["occurrence"] == "o-normal"
                           and data["at_ms"] < alarm["at_ms"] for kind, data in receipts)

    asyncio.run(scenario())


def test_a_relay_cut_by_an_emergency_goes_on_under_its_renewed_lease(tmp_path: Path) -> None:
    """A relay's lease is renewed while it plays; an emergency cutting in after the lease it started
    with has run out must not find it over: the relay goes on once the emergency ends."""
    async def scenario() -> None:
        receipts: Receipts = []
        engine = make_engine(tmp_path, receipts)
        now = int(time.time() * 1000)
        relay = {**tone("o-relay", now, "background"), "duration_ms": 60_000}
        engine.schedule.take("area", 1, [{**relay, "valid_until_ms": now + 1000}], None, now)
        async with running(engine):
            await wait_for_receipt(receipts, "started", "o-relay")
            engine.schedule.take("area", 1, [{**relay, "valid_until_ms": now + 60_000}], None, now)
            await asyncio.sleep(1.2)  # the lease the relay started with has run out
            bulletin_ms = int(time.time() * 1000) + 300
            engine.schedule.take("device", 0, [tone("o-bulletin", bulletin_ms, "emergency")], None,
                                 bulletin_ms - 300)
            engine.wake()
            await wait_for_receipt(receipts, "interrupted", "o-relay")
            await wait_for_receipt(receipts, "completed", "o-bulletin")
            await asyncio.sleep(0.3)
            assert not any(kind == "preempted" for kind, _ in receipts), receipts
            assert engine.bed is not None and engine.bed.item.id == "o-relay", receipts


def test_a_bulletin_over_a_relay_plays_on_time_and_the_relay_goes_on_under_it(tmp_path: Path) -> None:
    """Neither stops the other: the relay is the bed, the bulletin the announcement, each with its
    receipts, and the relay is still on once the bulletin is over."""
    async def scenario() -> None:
        receipts: Receipts = []
        engine = make_engine(tmp_path, receipts)
        now = int(time.time() * 1000)
        relay = {**tone("o-relay", now, "background"), "duration_ms": 60_000}
        engine.schedule.take("area", 1, [relay], None, now)
        async with running(engine):
            await wait_for_receipt(receipts, "started", "o-relay")
            bulletin_ms = int(time.time() * 1000) + 1500
            engine.schedule.take("device", 0, [tone("o-bulletin", bulletin_ms)], None, bulletin_ms - 1500)
            engine.wake()
            started = await wait_for_receipt(receipts, "started", "o-bulletin")
            assert abs(started["late_ms"]) < 20, started
            assert engine.mixer.mixing and engine.bed is not None and engine.current is not None
            await wait_for_receipt(receipts, "completed", "o-bulletin")
            await asyncio.sleep(0.3)
            assert [kind for kind, data in receipts if data.get("occurrence") == "o-relay"] == ["started"]
            assert engine.bed is not None and engine.bed.item.id == "o-relay" and engine.current is None

    asyncio.run(scenario())


def test_what_was_told_once_per_file_is_forgotten_when_the_file_leaves_the_schedule(tmp_path: Path) -> None:
    """A board runs for months: the files it said it was downloading (or failed to) are not kept for
    ever, only while an occurrence names them."""
    async def scenario() -> None:
        receipts: Receipts = []
        engine = make_engine(tmp_path, receipts)
        start_ms = int(time.time() * 1000) + 60_000
        media = {"id": "o-file", "level": "normal", "start_ms": start_ms, "duration_ms": 1000,
                 "source": {"type": "media", "sha256": "ab" * 32, "size": 1000}}
        engine.schedule.take("area", 1, [media], None, start_ms - 60_000)
        await engine.fetch_due()  # the controller at 127.0.0.1:9 refuses: downloading, then failed
        assert [kind for kind, _ in receipts] == ["downloading", "download-failed"]
        assert engine._downloading_reported and engine._reported_failures
        engine.schedule.take("area", 1, [], None, start_ms - 60_000)
        await engine.fetch_due()
        assert not engine._downloading_reported and not engine._reported_failures

    asyncio.run(scenario())
