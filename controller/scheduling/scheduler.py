"""The scheduler loop: on the leading controller only, expand schedules and keep the horizon current.

Any controller's API notes a change (a new schedule, an approval, a stop) by writing a new random
token to a Redis key; the leader sees it within a second and expands. A token never repeats, so
a Redis that came back empty cannot hide a change behind a value the leader has already seen, and
after any failed step (Redis or the database unreachable) the leader expands again first. It also
expands every few minutes (plays move into the week ahead) and runs the horizon keeper. Writes are
fenced by the leader's epoch and publication happens only while the lock is still held. The lock
is renewed by a task of its own, so that a long expansion (thousands of areas) does not let it
lapse. The leader also runs the scheduled relays (relays.py) while their windows are open, and
ends them when it stops leading.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..airtime.service import Airtime
from ..context import Services
from ..fleet import desired, history, horizon
from ..live import records
from . import expansion
from .leader import Leadership, Superseded
from .relays import ScheduledRelays

log = logging.getLogger(__name__)

CHANGES_KEY = "loa:scheduler:changes"
STEP_S = 1.0
EXPAND_EVERY_S = 300.0
UNSEEN = "unseen"  # never a token: the next step expands
PRUNE_EVERY_S = 3600.0


async def note_change(redis: Redis) -> None:
    """Tell the leader (whichever controller it is) that schedules changed.

    The change is already in the database: when Redis cannot be told, the leader expands anyway
    once its own steps work again, so this never fails the caller's request.
    """
    try:
        await redis.set(CHANGES_KEY, secrets.token_hex(8))
    except RedisError as exc:
        log.warning("scheduler: could not signal a change (%s); the leader expands when Redis is back",
                    type(exc).__name__)


class Scheduler:
    """The leader's work, stepped once a second."""

    def __init__(self, services: Services, leadership: Leadership, airtime: Airtime) -> None:
        self.services = services
        self.leadership = leadership
        self._seen_changes: bytes | str | None = UNSEEN
        self._expanded_at = 0.0
        self._expanded_epoch: int | None = None  # a new lead expands at once
        self._refreshed_at = time.monotonic()
        self._pruned_at = 0.0
        self.relays = ScheduledRelays(services, leadership, airtime)

    async def run(self) -> None:
        """Step until cancelled; never raises."""
        keeper = asyncio.create_task(self._keep_lead(), name="scheduler-lead")
        try:
            while True:
                try:
                    await self.step()
                except Superseded as exc:
                    log.warning("scheduler: superseded (%s); stepping down", exc)
                    self.leadership.epoch = None
                    self._seen_changes = UNSEEN
                except Exception:
                    log.exception("scheduler step failed; trying again")
                    self._seen_changes = UNSEEN
                await asyncio.sleep(STEP_S)
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            await self.leadership.resign()

    async def _keep_lead(self) -> None:
        """Renew the lock (or try to take it) three times per lifetime, whatever the work is doing."""
        interval = self.leadership.ttl_ms / 3000
        while True:
            try:
                await self.leadership.step()
            except Exception:
                log.exception("scheduler: could not reach Redis for the lock")
            await asyncio.sleep(interval)

    async def step(self) -> None:
        """When leading: expand on a change or when due; run the relays' windows; refresh the horizon
        when due."""
        if not self.leadership.leading:
            self.relays.stop_all()
            return
        if not self.services.link.connected.is_set():
            return
        changes = await self.services.redis.get(CHANGES_KEY)
        epoch = self.leadership.epoch
        if (changes != self._seen_changes or epoch != self._expanded_epoch
                or time.monotonic() - self._expanded_at > EXPAND_EVERY_S):
            await self.expand()
            self._seen_changes, self._expanded_epoch, self._expanded_at = changes, epoch, time.monotonic()
        await self.relays.step(expansion.now_ms())
        if time.monotonic() - self._refreshed_at > self.services.settings.horizon_refresh_s:
            await horizon.refresh(self.services, fenced=self._fenced())
            self._refreshed_at = time.monotonic()
        if time.monotonic() - self._pruned_at > PRUNE_EVERY_S:
            await asyncio.to_thread(self._prune)
            self._pruned_at = time.monotonic()

    def _prune(self) -> None:
        """Telemetry history past its days, and live recordings past theirs."""
        keep_ms = self.services.settings.history_keep_days * 86_400_000
        with self.services.db.session() as session:
            history.prune(session, expansion.now_ms() - keep_ms)
        records.expire(self.services)

    def _fenced(self) -> tuple[int, str]:
        epoch = self.leadership.epoch
        if epoch is None:
            raise Superseded("no longer leading")
        return epoch, self.services.settings.instance_id

    async def expand(self) -> expansion.Expansion:
        """Expand every schedule, write the difference and publish the targets it changed (a new
        leader's first expansion publishes every scheduled target)."""
        epoch, holder = self._fenced()
        now = expansion.now_ms()
        fresh_lead = epoch != self._expanded_epoch
        result = await asyncio.to_thread(self._expand_in_db, now, epoch, holder, fresh_lead)
        if result.targets and not await self.leadership.still_leading():
            raise Superseded("lost the lock before publishing")
        await desired.publish_targets(self.services, result.targets)
        if result.added or result.withdrawn:
            log.info("scheduler (epoch %s): %d occurrences added, %d withdrawn, %d targets published",
                     epoch, result.added, result.withdrawn, len(result.targets))
        return result

    def _expand_in_db(self, now: int, epoch: int, holder: str, republish: bool) -> expansion.Expansion:
        with self.services.db.session() as session:
            wanted = expansion.planned(session, now)
            return expansion.apply(session, wanted, now, epoch, holder, republish)
