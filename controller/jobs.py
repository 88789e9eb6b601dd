"""Background jobs (transcoding, speech synthesis) with their progress in Redis.

A job is started by an API call that answers at once with the job's id; the console polls
`GET /api/v1/jobs/{id}` for its state (queued, running, done, failed), its progress (0..1) and,
when done, its result. Jobs run in the controller process that started them, a few at a time.

A job never outlives its controller, so it must never look as if it did. Its record names the
controller instance that runs it, and an index of open (queued or running) jobs keeps each one's
heartbeat, which that controller refreshes every HEARTBEAT_S. A job whose controller ends is
failed with the code `job_interrupted` ("send the file or text again"; nothing is resumed: the
upload went with the process), whichever way it ended:
- stopped (SIGTERM): the controller cancels its jobs and fails them before it exits;
- killed (SIGKILL, power cut) and started again: at start it fails every open job of its instance
  id (a process that has just started runs none; instance ids are unique, as MQTT needs anyway);
- killed and never back (several controllers share one Redis): a heartbeat older than STALE_S
  fails the job when any controller reads it or sweeps the index (each does every HEARTBEAT_S).
Every write after the first goes through one script that leaves an ended job alone, and a
heartbeat refreshes only jobs still in the index, so neither a late progress write nor a slow
owner's result turns a failed job back (if that upload was stored after all, sending it again
finds the same library item).

Some jobs stand for something else that waits on them (a bulletin `preparing` its speech): the
job names it as its subject, and a handler registered for the job's kind is told when such a job
is interrupted, in whichever controller notices.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .redis_text import text

log = logging.getLogger(__name__)

_PREFIX = "loa:job:"
OPEN_KEY = "loa:jobs:open"  # sorted set: open job id -> its last heartbeat (ms)
KEEP_S = 24 * 3600
PROGRESS_STEP = 0.02  # progress is written when it moved this much
HEARTBEAT_S = 5.0
STALE_S = 30.0  # six missed heartbeats: the controller running the job is gone
OPEN_STATES = ("queued", "running")
INTERRUPTED = "job_interrupted"
INTERNAL_ERROR = "internal_error"
INTERRUPTED_MESSAGE = "the controller stopped before this job finished; send the file or text again"

# Set fields of an open job; returns 0 (and drops it from the index) when it has ended already.
# ARGV: job id, heartbeat cutoff (only a job whose heartbeat is older, or missing, is changed; -1:
# any), "1" to end the job (it leaves the index), seconds to keep the record, then field/value
# pairs (JSON values).
_UPDATE_OPEN = """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= '"queued"' and state ~= '"running"' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
local cutoff = tonumber(ARGV[2])
if cutoff >= 0 then
  local beat = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if beat and tonumber(beat) >= cutoff then return 0 end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ARGV[4])
if ARGV[3] == '1' then redis.call('ZREM', KEYS[2], ARGV[1]) end
return 1
"""


class JobFailed(Exception):
    """A job cannot finish; code is stable (the console says it in its own words), message in English."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


JobBody = Callable[[Callable[[float], None]], Awaitable[dict[str, Any]]]
InterruptedHandler = Callable[[str], None]  # given the job's subject


class Jobs:
    """Starts jobs, keeps their heartbeat, and answers for their state."""

    def __init__(self, redis: Redis, instance_id: str, concurrency: int = 2) -> None:
        self.redis = redis
        self.instance_id = instance_id
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._handlers: dict[str, InterruptedHandler] = {}
        self._update = redis.register_script(_UPDATE_OPEN)
        self._beating: asyncio.Task[None] | None = None

    def on_interrupted(self, kind: str, handler: InterruptedHandler) -> None:
        """Call handler(subject) when a job of this kind with a subject is interrupted."""
        self._handlers[kind] = handler

    async def open(self) -> None:
        """Fail the jobs this instance left open when it last ended, then keep the heartbeat."""
        mine = json.dumps(self.instance_id)
        for job_id in await self._open_ids():
            if text(await self.redis.hget(_PREFIX + job_id, "controller") or b"") == mine:
                await self._interrupt(job_id, cutoff_ms=-1)
        self._beating = asyncio.create_task(self._beat_and_sweep(), name="job-heartbeat")

    async def start(self, kind: str, owner: str, body: JobBody, subject: str | None = None) -> str:
        """Queue body (it gets a progress callback and returns the result); returns the job id."""
        job_id = "j-" + secrets.token_hex(8)
        fields = {"kind": kind, "owner": owner, "state": "queued", "progress": 0.0,
                  "created_ms": _now_ms(), "controller": self.instance_id, "subject": subject}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(_PREFIX + job_id, mapping={name: json.dumps(value) for name, value in fields.items()})
            pipe.expire(_PREFIX + job_id, KEEP_S)
            pipe.zadd(OPEN_KEY, {job_id: _now_ms()})
            await pipe.execute()
        task = asyncio.create_task(self._run(job_id, body), name=f"job-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job_id, None))
        return job_id

    async def get(self, job_id: str) -> dict[str, Any] | None:
        """A job's record, or None when unknown or expired; a job whose controller is gone is failed."""
        if not job_id.startswith("j-") or len(job_id) > 40:
            return None
        record = await self._read(job_id)
        stale_from = _now_ms() - int(STALE_S * 1000)
        if (record is not None and record.get("state") in OPEN_STATES and job_id not in self._tasks
                and await self._interrupt(job_id, cutoff_ms=stale_from)):
            record = await self._read(job_id)
        return record

    async def close(self) -> None:
        """Stop the heartbeat, cancel the jobs still open here and fail them."""
        if self._beating is not None:
            self._beating.cancel()
            await asyncio.gather(self._beating, return_exceptions=True)
        cut_off = dict(self._tasks)
        for task in cut_off.values():
            task.cancel()
        await asyncio.gather(*cut_off.values(), return_exceptions=True)
        for job_id in cut_off:
            try:
                await self._interrupt(job_id, cutoff_ms=-1)
            except RedisError as exc:
                log.warning("job %s: could not be marked interrupted (%s)", job_id, exc)

    async def _run(self, job_id: str, body: JobBody) -> None:
        async with self._slots:
            await self._write(job_id, state="running")
            reported = [0.0]
            pending: set[asyncio.Task[bool]] = set()

            def progress(done: float) -> None:
                if done - reported[0] >= PROGRESS_STEP or done >= 1.0:
                    reported[0] = done
                    task = asyncio.create_task(self._write(job_id, progress=round(done, 3)))
                    pending.add(task)
                    task.add_done_callback(pending.discard)

            try:
                result = await body(progress)
            except JobFailed as exc:
                await self._write(job_id, ended=True, state="failed", error=str(exc)[:500],
                                  error_code=exc.code)
            except Exception:
                log.exception("job %s failed", job_id)
                await self._write(job_id, ended=True, state="failed", error="internal error",
                                  error_code=INTERNAL_ERROR)
            else:
                await asyncio.gather(*pending)
                await self._write(job_id, ended=True, state="done", progress=1.0, result=result)

    async def _interrupt(self, job_id: str, cutoff_ms: int) -> bool:
        """Fail an open job whose controller ended (heartbeat before cutoff_ms; -1: at once)."""
        if not await self._write(job_id, cutoff_ms=cutoff_ms, ended=True, state="failed",
                                 error=INTERRUPTED_MESSAGE, error_code=INTERRUPTED):
            return False
        record = await self._read(job_id) or {}
        log.warning("job %s (%s, controller %s) interrupted: failed", job_id, record.get("kind"),
                    record.get("controller"))
        handler = self._handlers.get(str(record.get("kind")))
        if handler is not None and record.get("subject"):
            try:
                handler(str(record["subject"]))
            except Exception:
                log.exception("job %s: the handler of its interruption failed", job_id)
        return True

    async def _beat_and_sweep(self) -> None:
        """Every HEARTBEAT_S: refresh the heartbeat of this controller's jobs, fail stale ones."""
        while True:
            try:
                if self._tasks:
                    await self.redis.zadd(OPEN_KEY, dict.fromkeys(self._tasks, _now_ms()), xx=True)
                cutoff = _now_ms() - int(STALE_S * 1000)
                for job_id in await self._open_ids(before_ms=cutoff):
                    await self._interrupt(job_id, cutoff_ms=cutoff)
            except RedisError as exc:
                log.warning("jobs: heartbeat not written (%s)", exc)
            except Exception:  # the heartbeat must outlive any one failure
                log.exception("jobs: heartbeat or sweep failed")
            await asyncio.sleep(HEARTBEAT_S)

    async def _open_ids(self, before_ms: int | None = None) -> list[str]:
        upper = "+inf" if before_ms is None else f"({before_ms}"
        found: Any = await self.redis.zrangebyscore(OPEN_KEY, "-inf", upper)  # ids only, no scores
        return [text(job_id) for job_id in found]

    async def _read(self, job_id: str) -> dict[str, Any] | None:
        raw = await self.redis.hgetall(_PREFIX + job_id)
        if not raw:
            return None
        record: dict[str, Any] = {text(k): json.loads(text(v)) for k, v in raw.items()}
        record["id"] = job_id
        return record

    async def _write(self, job_id: str, cutoff_ms: int = -1, ended: bool = False, **fields: Any) -> bool:
        """Set fields of a job that is still open; False when it has ended (or is not stale enough)."""
        pairs = [item for name, value in fields.items() for item in (name, json.dumps(value))]
        changed = await self._update(keys=[_PREFIX + job_id, OPEN_KEY],
                                     args=[job_id, cutoff_ms, "1" if ended else "0", KEEP_S, *pairs])
        return bool(changed)


def _now_ms() -> int:
    return int(time.time() * 1000)
