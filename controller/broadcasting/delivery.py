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
UNTOLD = {"pending": "missed", "acknowledged": "missed", "downloading": "missed", "playing": "stopped"}
RECEIPT_STATES = {"downloading": "downloading", "started": "playing", "resumed": "playing",
                  "completed": "completed", "failed": "failed", "missed": "missed", "skipped": "missed",
                  "preempted": "preempted", "stopped": "stopped", "rejected": "failed"}


_ADVANCE = """
local ranks = {RANKS}
local moved = 0
for i = 2, #ARGV, 6 do
  local states, log, device, state, rank, detail = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3],
    tonumber(ARGV[i + 4]), ARGV[i + 5]
  local raw = redis.call('HGET', states, device)
  if raw and ranks[cjson.decode(raw)['state']] < rank then
    local change = {state = state, at_ms = tonumber(ARGV[1])}
    if detail ~= '' then change['detail'] = detail end
    redis.call('HSET', states, device, cjson.encode(change))
    change['device'] = device
    redis.call('XADD', log, 'MAXLEN', '~', LOG_MAX, '*', 'event', cjson.encode(change))
    moved = moved + 1
  end
end
return moved
""".replace("{RANKS}", "{" + ", ".join(f"['{name}'] = {rank}" for name, rank in RANK.items()) + "}") \
   .replace("LOG_MAX", str(LOG_MAX))


def _states(broadcast_id: str) -> str:
    return f"loa:delivery:{broadcast_id}"


def _targets(broadcast_id: str) -> str:
    return f"loa:delivery-targets:{broadcast_id}"


def _log(broadcast_id: str) -> str:
    return f"loa:delivery-log:{broadcast_id}"


def _tracked(broadcast_id: str) -> str:
    return f"loa:delivery-tracked:{broadcast_id}"


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
        pipe.set(_tracked(broadcast_id), len(reach), ex=KEEP_S)  # even when it reaches nobody
        await pipe.execute()


async def tracked(redis: Redis, broadcast_id: str) -> bool:
    """Whether Redis holds the broadcast's delivery record (gone when Redis lost its data)."""
    return bool(await redis.exists(_tracked(broadcast_id)))


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
    """Move devices forward (broadcast, device, state, detail), in order, never back, in one atomic
    round trip (receipts and reports are handled by loops of their own: a read then a write could
    move a device back); returns how many moved."""
    if not moves:
        return 0
    arguments: list[str | int] = [_now_ms()]
    for broadcast_id, device_id, state, detail in moves:
        arguments += [_states(broadcast_id), _log(broadcast_id), device_id, state, RANK[state], detail[:200]]
    moved = await redis.eval(_ADVANCE, 0, *arguments)
    return int(moved)


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


def all_played_out(states: dict[str, dict[str, Any]]) -> bool:
    """Every device the broadcast reached has reached a final state.

    An offline device has not: it may still come back within the lateness and play, and a device
    enrolled into a target area later receives the broadcast too, so a broadcast that reached no
    device is never over early.
    """
    return bool(states) and all(value["state"] in FINAL for value in states.values())


async def close(redis: Redis, broadcast_id: str,
                states: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A live broadcast over: the devices that never told how it ended for them get the end the
    controller knows, since none can play it past its lease (a receipt lost, or not sent yet when the
    broker was away). `playing` becomes `stopped`, one that never played `missed`, each with the
    detail `no_receipt`; an offline device stays offline. Returns every device's state now."""
    moves = [(broadcast_id, device_id, UNTOLD[value["state"]], "no_receipt")
             for device_id, value in states.items() if value["state"] in UNTOLD]
    if not moves:
        return states
    await advance_many(redis, moves)
    return await snapshot(redis, broadcast_id)


def _now_ms() -> int:
    return int(time.time() * 1000)
