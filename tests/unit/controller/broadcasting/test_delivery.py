"""Delivery states of a broadcast: each device starts pending (or offline) and only moves forward,
from acknowledged through downloading and playing to one final state; every move is logged once."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from redis.asyncio import Redis

from controller.broadcasting import delivery
from controller.broadcasting.delivery import all_played_out, summary
from tests.testkit import Stack

pytestmark = pytest.mark.unit

T = TypeVar("T")
OWN_DB = 7  # a Redis database of this module's own, emptied for each test
WAIT_MS = 100  # how long a read of the log waits when there is nothing new (0 would wait for ever)


def run(stack: Stack, scenario: Callable[[Redis], Awaitable[T]]) -> T:
    async def with_redis() -> T:
        redis = Redis(port=stack.redis_port, db=OWN_DB)
        await redis.flushdb()  # a device's broadcasts are indexed across broadcasts: start from none
        try:
            return await scenario(redis)
        finally:
            await redis.aclose()
    return asyncio.run(with_redis())


def new_broadcast() -> str:
    return "bc-" + secrets.token_hex(6)


REACH = {"loa-1": ("area", "xa", 4), "loa-2": ("area", "xa", 4), "loa-3": ("device", "loa-3", 9)}


def states_of(snapshot: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {device: value["state"] for device, value in snapshot.items()}


def test_a_device_starts_pending_or_offline_and_each_start_is_logged(stack: Stack) -> None:
    broadcast = new_broadcast()

    async def scenario(redis: Redis) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str]], bool]:
        await delivery.begin(redis, broadcast, REACH, online={"loa-1", "loa-3"}, occurrences=["o-1"])
        events = await delivery.events_after(redis, broadcast, "0", WAIT_MS)
        return await delivery.snapshot(redis, broadcast), events, await delivery.tracked(redis, broadcast)

    snapshot, events, tracked = run(stack, scenario)
    assert states_of(snapshot) == {"loa-1": "pending", "loa-2": "offline", "loa-3": "pending"}
    assert sorted((json.loads(event)["device"], json.loads(event)["state"]) for _, event in events) == [
        ("loa-1", "pending"), ("loa-2", "offline"), ("loa-3", "pending")]
    assert tracked


def test_a_broadcast_that_reaches_nobody_is_tracked_and_never_played_out(stack: Stack) -> None:
    broadcast = new_broadcast()

    async def scenario(redis: Redis) -> tuple[bool, bool]:
        before = await delivery.tracked(redis, broadcast)
        await delivery.begin(redis, broadcast, {}, online=set(), occurrences=[])
        return before, await delivery.tracked(redis, broadcast)

    assert run(stack, scenario) == (False, True)
    assert not all_played_out({})


def test_a_state_never_moves_back_and_a_final_state_is_final(stack: Stack) -> None:
    broadcast = new_broadcast()

    async def scenario(redis: Redis) -> tuple[list[int], dict[str, str]]:
        await delivery.begin(redis, broadcast, REACH, online=set(REACH), occurrences=[])
        moved = [
            await delivery.advance_many(redis, [(broadcast, "loa-1", "playing", "")]),
            await delivery.advance_many(redis, [(broadcast, "loa-1", "acknowledged", "")]),  # back: no
            await delivery.advance_many(redis, [(broadcast, "loa-1", "completed", "")]),
            await delivery.advance_many(redis, [(broadcast, "loa-1", "stopped", "")]),  # final to final: no
            await delivery.advance_many(redis, [(broadcast, "loa-9", "playing", "")]),  # not reached: no
            # in order within one call: the later move of the same device still counts
            await delivery.advance_many(redis, [(broadcast, "loa-2", "downloading", ""),
                                                (broadcast, "loa-2", "playing", "")]),
        ]
        return moved, states_of(await delivery.snapshot(redis, broadcast))

    moved, states = run(stack, scenario)
    assert moved == [1, 0, 1, 0, 0, 2]
    assert states == {"loa-1": "completed", "loa-2": "playing", "loa-3": "pending"}


def test_receipts_advance_the_broadcast_their_occurrence_belongs_to(stack: Stack) -> None:
    broadcast = new_broadcast()
    occurrence = "o-" + secrets.token_hex(6)

    async def scenario(redis: Redis) -> tuple[int, dict[str, dict[str, Any]]]:
        await delivery.begin(redis, broadcast, REACH, online=set(REACH), occurrences=[occurrence])
        moved = await delivery.on_receipts(redis, [
            ("loa-1", "started", {"occurrence": occurrence}),
            ("loa-2", "skipped", {"occurrence": occurrence, "reason": "quiet_hours"}),
            ("loa-3", "rejected", {"occurrence": occurrence, "reason": "bad_signature"}),
            ("loa-1", "heartbeat", {"occurrence": occurrence}),  # not a delivery receipt
            ("loa-1", "completed", {"occurrence": "o-unknown"}),  # another broadcast's: ignored
            ("loa-1", "completed", {}),  # names no occurrence
        ])
        return moved, await delivery.snapshot(redis, broadcast)

    moved, snapshot = run(stack, scenario)
    assert moved == 3
    assert states_of(snapshot) == {"loa-1": "playing", "loa-2": "missed", "loa-3": "failed"}
    assert snapshot["loa-2"]["detail"] == "quiet_hours" and "detail" not in snapshot["loa-1"]


def test_a_report_acknowledges_once_it_carries_the_version_of_the_broadcast(stack: Stack) -> None:
    broadcast = new_broadcast()

    async def scenario(redis: Redis) -> tuple[int, int, dict[str, str]]:
        await delivery.begin(redis, broadcast, REACH, online=set(REACH), occurrences=[])
        behind = await delivery.on_reports(redis, [("loa-1", 99, {"xa": 3}), ("loa-3", 8, {"xa": 99})])
        caught_up = await delivery.on_reports(redis, [("loa-1", 0, {"xa": 4}), ("loa-3", 9, {})])
        return behind, caught_up, states_of(await delivery.snapshot(redis, broadcast))

    behind, caught_up, states = run(stack, scenario)
    assert (behind, caught_up) == (0, 2)  # an area target by the area's version, a device one by its own
    assert states == {"loa-1": "acknowledged", "loa-2": "pending", "loa-3": "acknowledged"}


def test_a_follower_that_reconnects_misses_nothing_and_sees_nothing_twice(stack: Stack) -> None:
    broadcast = new_broadcast()

    async def scenario(redis: Redis) -> tuple[list[str], list[str]]:
        await delivery.begin(redis, broadcast, {"loa-1": ("area", "xa", 1)}, online={"loa-1"}, occurrences=[])
        seen = await delivery.events_after(redis, broadcast, "0", WAIT_MS)
        await delivery.advance_many(redis, [(broadcast, "loa-1", "downloading", "")])
        await delivery.advance_many(redis, [(broadcast, "loa-1", "playing", "")])
        after = await delivery.events_after(redis, broadcast, seen[-1][0], WAIT_MS)
        return ([json.loads(event)["state"] for _, event in seen],
                [json.loads(event)["state"] for _, event in after])

    assert run(stack, scenario) == (["pending"], ["downloading", "playing"])


def test_closing_ends_the_untold_devices_as_the_controller_knows(stack: Stack) -> None:
    broadcast = new_broadcast()
    reach = {name: ("area", "xa", 1) for name in ("loa-1", "loa-2", "loa-3", "loa-4", "loa-5")}

    async def scenario(redis: Redis) -> dict[str, dict[str, Any]]:
        await delivery.begin(redis, broadcast, reach, online={"loa-1", "loa-2", "loa-3", "loa-4"},
                             occurrences=[])
        await delivery.advance_many(redis, [(broadcast, "loa-1", "playing", ""),
                                            (broadcast, "loa-2", "downloading", ""),
                                            (broadcast, "loa-3", "completed", "")])
        return await delivery.close(redis, broadcast, await delivery.snapshot(redis, broadcast))

    closed = run(stack, scenario)
    assert states_of(closed) == {"loa-1": "stopped", "loa-2": "missed", "loa-3": "completed",
                                 "loa-4": "missed", "loa-5": "offline"}
    assert {device: value.get("detail") for device, value in closed.items()} == {
        "loa-1": "no_receipt", "loa-2": "no_receipt", "loa-3": None, "loa-4": "no_receipt", "loa-5": None}


@pytest.mark.parametrize(("states", "finished", "played_out"), [
    (["completed", "missed", "preempted"], True, True),
    (["completed", "offline"], True, False),  # an offline device may still come back and play
    (["completed", "playing"], False, False),
    (["acknowledged"], False, False),
])
def test_the_summary_counts_by_state_and_says_when_it_is_over(
        states: list[str], finished: bool, played_out: bool) -> None:
    snapshot = {f"loa-{i}": {"state": state, "at_ms": 0} for i, state in enumerate(states)}
    result = summary(snapshot)
    assert result["devices"] == len(states)
    assert sum(result["by_state"].values()) == len(states)
    assert result["by_state"][states[0]] == states.count(states[0])
    assert (result["finished"], all_played_out(snapshot)) == (finished, played_out)
