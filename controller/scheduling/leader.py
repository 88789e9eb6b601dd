"""One scheduler among many controllers: a Redis lock, and an epoch that fences the database.

Every controller serves the API; only the leader expands schedules and publishes what time
changes. Leadership is a Redis key with a short expiry that the leader renews. Each new leader
takes a new epoch (a Redis counter), and every write the scheduler makes first moves the
database's fence to its epoch, refusing when the fence already holds a newer one: a leader that
was paused (a frozen process, a long garbage collection) and wakes after another took over is
refused at its next write, and so never publishes what it computed.

The database holds the truth: a new epoch is always above the fence, so a Redis that came back
empty (its counter at 0 again) costs nothing but the lock's few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

from redis.asyncio import Redis
from sqlalchemy.orm import Session

from ..db.models import SchedulerFence, utcnow
from ..db.session import Database
from ..redis_text import text

log = logging.getLogger(__name__)

LOCK_KEY = "loa:scheduler:leader"
EPOCH_KEY = "loa:scheduler:epoch"
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# deletes the lock only while it still holds this leader's token: one step, so a lock that expired
# and was taken by a successor between a read and a delete is never deleted
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# the next epoch, never at or below the database's fence
NEXT_EPOCH = """
local epoch = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[1])
if epoch <= floor then
  epoch = floor + 1
  redis.call('SET', KEYS[1], epoch)
end
return epoch
"""


class Superseded(RuntimeError):
    """A newer leader has written: this one must stop."""


class Leadership:
    """This controller's claim to be the scheduler."""

    def __init__(self, redis: Redis, instance_id: str, fence_epoch: Callable[[], int] = lambda: 0,
                 ttl_s: float = 5.0) -> None:
        self.redis = redis
        self.instance_id = instance_id
        self.fence_epoch = fence_epoch
        self.ttl_ms = int(ttl_s * 1000)
        self.epoch: int | None = None
        self._token = ""

    @property
    def leading(self) -> bool:
        """Whether this controller holds the lock (as far as it knows)."""
        return self.epoch is not None

    async def step(self) -> bool:
        """Renew the lock, or try to take it; returns whether this controller leads now."""
        if self.epoch is not None:
            if await self.redis.eval(RENEW, 1, LOCK_KEY, self._token, self.ttl_ms):
                return True
            log.warning("scheduler: lost the lead (epoch %s)", self.epoch)
            self.epoch = None
        token = f"{self.instance_id}:{secrets.token_hex(6)}"
        if await self.redis.set(LOCK_KEY, token, nx=True, px=self.ttl_ms):
            self._token = token
            floor = await asyncio.to_thread(self.fence_epoch)
            self.epoch = int(await self.redis.eval(NEXT_EPOCH, 1, EPOCH_KEY, floor))
            log.info("scheduler: %s leads, epoch %s", self.instance_id, self.epoch)
        return self.epoch is not None

    async def still_leading(self) -> bool:
        """Check with Redis that the lock is still this controller's (before publishing)."""
        if self.epoch is None:
            return False
        holder = await self.redis.get(LOCK_KEY)
        return holder is not None and text(holder) == self._token

    async def resign(self) -> None:
        """Give the lock up (on shutdown), so that another controller takes over at once."""
        if self.epoch is not None:
            await self.redis.eval(RELEASE, 1, LOCK_KEY, self._token)
            self.epoch = None


async def current_holder(redis: Redis) -> str | None:
    """The instance id of the leader, for status pages."""
    holder = await redis.get(LOCK_KEY)
    return text(holder).rsplit(":", 1)[0] if holder is not None else None


def fence_reader(db: Database) -> Callable[[], int]:
    """Reads the epoch the database's fence holds now (0 before any leader wrote)."""
    def read() -> int:
        with db.session() as session:
            row = session.get(SchedulerFence, 1)
            return row.epoch if row is not None else 0
    return read


def fence(session: Session, epoch: int, holder: str) -> None:
    """Move the database's fence to epoch inside session's transaction; Superseded if it holds a newer one."""
    row = session.get(SchedulerFence, 1, with_for_update=True)
    if row is None:
        row = SchedulerFence(id=1, epoch=0, holder="")
        session.add(row)
    if row.epoch > epoch:
        raise Superseded(f"epoch {epoch} is older than {row.epoch} of {row.holder}")
    row.epoch, row.holder, row.updated_at = epoch, holder, utcnow()
    session.flush()
