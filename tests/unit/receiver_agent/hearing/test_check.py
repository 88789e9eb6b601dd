"""The engine with a microphone: each completed play says a hearing check is pending, then a `heard`
event gives the verdict from the simulated microphone, the card mixer's volume taken out of the level;
without a microphone a play's heard is unknown."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from loalang_protocol.keys import KeyPair
from receiver_agent.amplifier import Amplifier, FileRelay
from receiver_agent.audio.simulated import SimulatedSoundCard
from receiver_agent.audio.simulated_mic import PATH_FILE, SimulatedMicrophone
from receiver_agent.clock import ClockSync
from receiver_agent.media.cache import MediaCache
from receiver_agent.playout.engine import Engine
from receiver_agent.playout.schedule import Schedule
from receiver_agent.timekeeper import TimeKeeper

pytestmark = pytest.mark.unit

Receipts = list[tuple[str, dict[str, Any]]]
VOLUME = 50  # the card's mixer halves the amplitude: 6 dB that are the mixer's, not the path's


def make_engine(tmp_path: Path, receipts: Receipts, with_microphone: bool = True,
                timekeeper: TimeKeeper | None = None) -> Engine:
    async def record(kind: str, data: dict[str, Any]) -> None:
        receipts.append((kind, data))

    card = SimulatedSoundCard(tmp_path / "card")
    return Engine(
        schedule=Schedule(tmp_path / "schedule.json"),
        cache=MediaCache(tmp_path / "cache", "http://127.0.0.1:9", "dev-1", KeyPair.generate()),
        sink=card, amplifier=Amplifier(FileRelay(tmp_path / "amplifier"), lead_s=0.2),
        timekeeper=timekeeper or TimeKeeper(ClockSync(), lambda: True), record=record,
        attention=tmp_path / "attention.wav", volume=lambda: VOLUME,
        microphone=SimulatedMicrophone(card, seed=5) if with_microphone else None)


@asynccontextmanager
async def running(engine: Engine) -> AsyncIterator[None]:
    task = asyncio.create_task(engine.run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        engine.sink.close()


def tone(occurrence_id: str, start_ms: int) -> dict[str, Any]:
    return {"id": occurrence_id, "level": "normal", "start_ms": start_ms, "duration_ms": 1500,
            "source": {"type": "tone", "frequency_hz": 440}}


async def receipt(receipts: Receipts, kind: str, timeout: float = 8.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for found, data in receipts:
            if found == kind:
                return data
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {kind} receipt: {receipts}")


def play_once(tmp_path: Path, path: dict[str, Any] | None, with_microphone: bool = True) -> Receipts:
    async def scenario() -> Receipts:
        receipts: Receipts = []
        engine = make_engine(tmp_path, receipts, with_microphone)
        if path is not None:
            (tmp_path / "card").mkdir(parents=True, exist_ok=True)
            (tmp_path / "card" / PATH_FILE).write_text(json.dumps(path))
        start_ms = int(time.time() * 1000) + 700
        engine.schedule.take("device", 0, [tone("o-1", start_ms)], None, start_ms - 700)
        async with running(engine):
            await receipt(receipts, "completed")
            if with_microphone:
                await receipt(receipts, "heard")
        return receipts

    return asyncio.run(scenario())


def of_kind(receipts: Receipts, kind: str) -> dict[str, Any]:
    return next(data for found, data in receipts if found == kind)


def test_a_play_through_a_healthy_path_is_heard_at_the_paths_level(tmp_path: Path) -> None:
    receipts = play_once(tmp_path, {"delay_ms": 80, "gain_db": -22, "noise_dbfs": -50})
    assert of_kind(receipts, "completed")["heard"] == "pending"
    heard = of_kind(receipts, "heard")
    assert heard["occurrence"] == "o-1"
    assert heard["heard"] == "yes", heard
    assert heard["delay_ms"] == pytest.approx(80, abs=10)
    assert heard["level_db"] == pytest.approx(-22, abs=1.0), "the mixer's 6 dB are not the path's"


def test_a_dead_amplifier_is_reported_as_not_heard(tmp_path: Path) -> None:
    heard = of_kind(play_once(tmp_path, {"faults": ["amplifier_dead"]}), "heard")
    assert (heard["heard"], heard["reason"]) == ("no", "silent"), heard


def test_without_a_microphone_heard_is_unknown_and_no_check_follows(tmp_path: Path) -> None:
    receipts = play_once(tmp_path, None, with_microphone=False)
    assert of_kind(receipts, "completed")["heard"] == "unknown"
    assert not [kind for kind, _ in receipts if kind == "heard"]


class MovingTime(TimeKeeper):
    """The agent's time, moved by shift_ms (as a new clock estimate moves it, up to 50 ms at once)."""

    shift_ms = 0.0

    def precise_ms(self) -> float:
        return super().precise_ms() + self.shift_ms


def test_the_agents_time_moving_during_a_play_does_not_move_the_measured_delay(tmp_path: Path) -> None:
    """The microphone stamps what it hears by the system clock: the play's start is taken on that
    clock as it starts, not converted from the agent's time once the play is over."""
    async def scenario() -> dict[str, Any]:
        receipts: Receipts = []
        moving = MovingTime(ClockSync(), lambda: True)
        engine = make_engine(tmp_path, receipts, timekeeper=moving)
        (tmp_path / "card").mkdir(parents=True, exist_ok=True)
        (tmp_path / "card" / PATH_FILE).write_text(json.dumps({"delay_ms": 80, "gain_db": -22}))
        start_ms = int(time.time() * 1000) + 700
        engine.schedule.take("device", 0, [tone("o-1", start_ms)], None, start_ms - 700)
        async with running(engine):
            await receipt(receipts, "started")
            moving.shift_ms = 45.0
            return await receipt(receipts, "heard")

    heard = asyncio.run(scenario())
    assert heard["heard"] == "yes" and heard["delay_ms"] == pytest.approx(80, abs=10), heard
