"""Background jobs (transcoding, speech synthesis) with their progress in Redis.

A job is started by an API call that answers at once with the job's id; the console polls
`GET /api/v1/jobs/{id}` for its state (queued, running, done, failed), its progress (0..1) and,
when done, its result. Jobs run in the controller process, a few at a time; a job whose
controller stopped stays "running" until its record expires (a day), and its upload is simply
made again.
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

from .redis_text import text

log = logging.getLogger(__name__)

_PREFIX = "loa:job:"
KEEP_S = 24 * 3600
PROGRESS_STEP = 0.02  # progress is written when it moved this much


class JobFailed(Exception):
    """A job cannot finish; the message is shown to the operator as the job's error."""


JobBody = Callable[[Callable[[float], None]], Awaitable[dict[str, Any]]]


class Jobs:
    """Starts jobs and answers for their state."""

    def __init__(self, redis: Redis, concurrency: int = 2) -> None:
        self.redis = redis
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, kind: str, owner: str, body: JobBody) -> str:
        """Queue body (it gets a progress callback and returns the result); returns the job id."""
        job_id = "j-" + secrets.token_hex(8)
        await self._write(job_id, kind=kind, owner=owner, state="queued", progress=0.0,
                          created_ms=int(time.time() * 1000))
        task = asyncio.create_task(self._run(job_id, body), name=f"job-{job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job_id

    async def get(self, job_id: str) -> dict[str, Any] | None:
        """A job's record, or None when unknown or expired."""
        if not job_id.startswith("j-") or len(job_id) > 40:
            return None
        raw = await self.redis.hgetall(_PREFIX + job_id)
        if not raw:
            return None
        record: dict[str, Any] = {text(k): json.loads(text(v)) for k, v in raw.items()}
        record["id"] = job_id
        return record

    async def _run(self, job_id: str, body: JobBody) -> None:
        async with self._slots:
            await self._write(job_id, state="running")
            reported = [0.0]
            pending: set[asyncio.Task[None]] = set()

            def progress(done: float) -> None:
                if done - reported[0] >= PROGRESS_STEP or done >= 1.0:
                    reported[0] = done
                    task = asyncio.create_task(self._write(job_id, progress=round(done, 3)))
                    pending.add(task)
                    task.add_done_callback(pending.discard)

            try:
                result = await body(progress)
            except JobFailed as exc:
                await self._write(job_id, state="failed", error=str(exc)[:500])
            except Exception:
                log.exception("job %s failed", job_id)
                await self._write(job_id, state="failed", error="internal error")
            else:
                await asyncio.gather(*pending)
                await self._write(job_id, state="done", progress=1.0, result=result)

    async def _write(self, job_id: str, **fields: Any) -> None:
        key = _PREFIX + job_id
        await self.redis.hset(key, mapping={name: json.dumps(value) for name, value in fields.items()})
        await self.redis.expire(key, KEEP_S)

    async def close(self) -> None:
        """Cancel the jobs still running."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
