"""Delivery of a broadcast, device by device, live in Redis and followable as a stream.

Every device the broadcast reaches starts `pending` (or `offline`, when the controller sees it
offline: reported, not silently missing) and moves on as it tells: `acknowledged` when it reports
the desired-state version that carries the broadcast, `downloading` and `playing` from its signed
receipts, then one final state: `completed`, `failed`, `missed`, `preempted` or `stopped`. A state
never moves back. Every state, the first included, is appended to the broadcast's log (a Redis
stream), which the event stream reads: a follower that reconnects with the id of the last event it
saw misses nothing and sees nothing twice.
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis

from ..redis_text import text

KEEP_S = 2 * 86_400
LOG_MAX = 200_000  # events kept per broadcast (a few per device)
FINAL = ("completed", "failed", "missed", "preempted", "stopped")
RANK = {"offline": 0, "pending": 1, "acknowledged": 2, "downloading": 3, "playing": 4,
        **dict.fromkeys(FINAL, 5)}
RECEIPT_STATES = {"downloading": "downloading", "started": "playing", "resumed": "playing",
                  "completed": "completed", "failed": "failed", "missed": "missed", "skipped": "missed",
                  "preempted": "preempted", "stopped": "stopped", "rejected": "failed"}


def _states(broadcast_id: str) -> str:
    return f"loa:delivery:{broadcast_id}"


def _targets(broadcast_id: str) -> str:
    return f"loa:delivery-targets:{broadcast_id}"


def _log(broadcast_id: str) -> str:
    return f"loa:delivery-log:{broadcast_id}"


def _occurrence(occurrence_id: str) -> str:
    return f"loa:occurrence-broadcast:{occurrence_id}"


def _device(device_id: str) -> str:
    return f"loa:device-broadcasts:{device_id}"


async def begin(redis: Redis, broadcast_id: str, reach: dict[str, tuple[str, str, int]],
                online: set[str], occurrences: list[str]) -> None:
    """Track a broadcast: reach maps each device to (scope, target, version that carries it)."""
    now = _now_ms()
    async with redis.pipeline(transaction=False) as pipe:
        for device_id, target in reach.items():
            state = {"state": "pending" if device_id in online else "offline", "at_ms": now}
            pipe.hset(_states(broadcast_id), device_id, json.dumps(state))
            pipe.xadd(_log(broadcast_id), {"event": json.dumps({"device": device_id, **state})},
                      maxlen=LOG_MAX, approximate=True)
            pipe.hset(_targets(broadcast_id), device_id, json.dumps(target))
            pipe.sadd(_device(device_id), broadcast_id)
            pipe.expire(_device(device_id), KEEP_S)
        for occurrence_id in occurrences:
            pipe.set(_occurrence(occurrence_id), broadcast_id, ex=KEEP_S)
        pipe.expire(_states(broadcast_id), KEEP_S)
        pipe.expire(_targets(broadcast_id), KEEP_S)
        pipe.expire(_log(broadcast_id), KEEP_S)
        await pipe.execute()


async def events_after(redis: Redis, broadcast_id: str, last_id: str, wait_ms: int,
                       count: int = 500) -> list[tuple[str, str]]:
    """Up to count (event id, JSON event) from the log after last_id ("0" for all), waiting up to wait_ms."""
    answer = await redis.xread({_log(broadcast_id): last_id}, count=count, block=wait_ms)
    streams: Any = answer.items() if isinstance(answer, dict) else answer  # RESP3 answers a mapping
    events = []
    for _, entries in streams:
        for event_id, fields in entries:
            decoded = {text(name): text(value) for name, value in fields.items()}
            events.append((text(event_id), decoded["event"]))
    return events


async def on_receipts(redis: Redis, receipts: list[tuple[str, str, dict[str, Any]]]) -> int:
    """Many devices' stored receipts (device, kind, data), in order: advance the broadcasts they
    belong to, in three pipelined round trips; returns how many states moved."""
    wanted = [(device_id, RECEIPT_STATES[kind], data) for device_id, kind, data in receipts
              if kind in RECEIPT_STATES and isinstance(data.get("occurrence"), str)]
    if not wanted:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for _, _, data in wanted:
            pipe.get(_occurrence(data["occurrence"][:64]))
        owners = await pipe.execute()
    return await advance_many(redis, [
        (text(owner), device_id, state, str(data.get("reason", "")))
        for (device_id, state, data), owner in zip(wanted, owners, strict=True) if owner is not None])


async def advance_many(redis: Redis, moves: list[tuple[str, str, str, str]]) -> int:
    """Move devices forward (broadcast, device, state, detail), in order, never back, in two
    pipelined round trips; returns how many moved."""
    pairs = list(dict.fromkeys((broadcast_id, device_id) for broadcast_id, device_id, _, _ in moves))
    if not pairs:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for broadcast_id, device_id in pairs:
            pipe.hget(_states(broadcast_id), device_id)
        current = {pair: json.loads(text(raw))["state"] if raw is not None else None
                   for pair, raw in zip(pairs, await pipe.execute(), strict=True)}
    moved = 0
    now = _now_ms()
    async with redis.pipeline(transaction=False) as pipe:
        for broadcast_id, device_id, state, detail in moves:
            was = current[(broadcast_id, device_id)]
            if was is None or was in FINAL or RANK[state] <= RANK[was]:
                continue
            current[(broadcast_id, device_id)] = state
            change = {"state": state, "at_ms": now, **({"detail": detail[:200]} if detail else {})}
            pipe.hset(_states(broadcast_id), device_id, json.dumps(change))
            pipe.xadd(_log(broadcast_id), {"event": json.dumps({"device": device_id, **change})},
                      maxlen=LOG_MAX, approximate=True)
            moved += 1
        if moved:
            await pipe.execute()
    return moved


async def on_reported(redis: Redis, device_id: str, device_version: int,
                      area_versions: dict[str, int]) -> None:
    """A device reported the versions it applied: acknowledge the broadcasts they carry."""
    await on_reports(redis, [(device_id, device_version, area_versions)])


async def on_reports(redis: Redis, reports: list[tuple[str, int, dict[str, int]]]) -> int:
    """Many devices' reports (device, device version, area versions): acknowledge the broadcasts
    they carry, in four pipelined round trips; returns how many states moved."""
    if not reports:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for device_id, _, _ in reports:
            pipe.smembers(_device(device_id))
        carried = await pipe.execute()
    pairs = [(text(raw), report) for report, members in zip(reports, carried, strict=True) for raw in members]
    if not pairs:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for broadcast_id, (device_id, _, _) in pairs:
            pipe.hget(_targets(broadcast_id), device_id)
        targets = await pipe.execute()
    moves = []
    for (broadcast_id, report), target in zip(pairs, targets, strict=True):
        if target is None:
            continue
        device_id, device_version, area_versions = report
        scope, target_id, version = json.loads(text(target))
        applied = device_version if scope == "device" else area_versions.get(target_id, 0)
        if applied >= version:
            moves.append((broadcast_id, device_id, "acknowledged", ""))
    return await advance_many(redis, moves)


async def snapshot(redis: Redis, broadcast_id: str) -> dict[str, dict[str, Any]]:
    """Every device's state now."""
    raw = await redis.hgetall(_states(broadcast_id))
    return {text(device): json.loads(text(value)) for device, value in raw.items()}


def summary(states: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Counts by state, and whether every device has reached a final state (or is offline)."""
    counts: dict[str, int] = {}
    for value in states.values():
        counts[value["state"]] = counts.get(value["state"], 0) + 1
    finished = all(value["state"] in FINAL or value["state"] == "offline" for value in states.values())
    return {"devices": len(states), "by_state": counts, "finished": finished}


def _now_ms() -> int:
    return int(time.time() * 1000)
