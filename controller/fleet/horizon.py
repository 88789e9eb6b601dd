"""The horizon keeper: published desired state keeps up with time passing.

Desired state carries the occurrences of the next `schedule_horizon_s`, so an occurrence
scheduled further out reaches the devices only when it enters that horizon; and a retained
message expires `desired_ttl_s` after it was signed. Every `horizon_refresh_s` the keeper (run
by the leading scheduler) publishes again (with a new version) each area or device whose horizon
has gained an occurrence since its last publication, or whose publication is half-way to
expiry, or was signed by another key than the controller's (after a rotation, so that a new board
never meets a retained state signed by a key since revoked), or of which no publication is on record
(Redis was emptied, or the target predates the record).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..context import Services
from ..db.models import Area, Device, Occurrence
from ..redis_text import text
from ..scheduling.leader import fence
from . import desired

log = logging.getLogger(__name__)


KEY_ID = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class Publication:
    """What the record says of a target's last publication."""

    horizon_end_ms: int
    published_ms: int
    kid: str | None = None  # the signing key's id (None in records written before it was kept)


def parse_record(raw: bytes | str) -> Publication | None:
    """A publication record ("<horizon end ms> <published ms> [<signing key id>]"), or None when
    unreadable."""
    try:
        end, published, *kid = text(raw).split()
        if len(kid) > 1 or (kid and not KEY_ID.match(kid[0])):
            return None
        return Publication(int(end), int(published), kid[0] if kid else None)
    except (ValueError, TypeError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class Plan:
    """What a refresh does: targets to publish again, and records of targets that are gone."""

    stale: list[str]
    gone: list[str]


def plan(services: Services, records: dict[str, Publication | None], now_ms: int,
         signing_kid: str | None = None) -> Plan:
    """The targets (`area:ID`, `device:ID`) whose published desired state is out of date (or, when
    signing_kid is given, signed by another key)."""
    horizon_end = now_ms + services.settings.schedule_horizon_s * 1000
    refresh_before = now_ms - services.settings.desired_ttl_s * 1000 // 2
    with services.db.session() as session:
        targets = [desired.target_key("area", a) for a in session.scalars(
            select(Area.id).where(Area.desired_version > 0))]
        targets += [desired.target_key("device", d) for d in session.scalars(
            select(Device.id).where(Device.desired_version > 0))]
        known = [record.horizon_end_ms for record in records.values() if record is not None]
        newest = _newest_start_per_target(session, min(known, default=now_ms), horizon_end)
    stale = []
    for key in targets:
        record = records.get(key)
        if (record is None or record.published_ms < refresh_before
                or newest.get(key, 0) > record.horizon_end_ms
                or (signing_kid is not None and record.kid != signing_kid)):
            stale.append(key)
    return Plan(stale, sorted(set(records) - set(targets)))


def _newest_start_per_target(session: Session, after_ms: int, until_ms: int) -> dict[str, int]:
    """For each target, the latest start of its occurrences in (after_ms, until_ms]."""
    query = (select(Occurrence.area_id, Occurrence.device_id, func.max(Occurrence.start_ms))
             .where(Occurrence.start_ms > after_ms, Occurrence.start_ms <= until_ms)
             .group_by(Occurrence.area_id, Occurrence.device_id))
    newest: dict[str, int] = {}
    for area_id, device_id, start in session.execute(query):
        key = desired.target_key("area", area_id) if area_id else desired.target_key("device", str(device_id))
        newest[key] = int(start)
    return newest


async def refresh(services: Services, now_ms: int | None = None,
                  fenced: tuple[int, str] | None = None) -> list[str]:
    """Publish again every stale target with a new version; returns the targets published.

    fenced, the scheduler's (epoch, instance), makes the version bumps refuse to happen when a
    newer scheduler has written (see controller/scheduling/leader.py).
    """
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    raw = await services.redis.hgetall(desired.PUBLISHED_KEY)
    records = {text(key): parse_record(value) for key, value in raw.items()}
    todo = await asyncio.to_thread(plan, services, records, now_ms, services.keyring.signing.kid)
    if todo.gone:
        await services.redis.hdel(desired.PUBLISHED_KEY, *todo.gone)
    if todo.stale:
        await asyncio.to_thread(_bump, services, todo.stale, fenced)
    await desired.publish_targets(services, todo.stale)
    if todo.stale:
        log.info("horizon: desired state of %d targets published again", len(todo.stale))
    return todo.stale


def _bump(services: Services, keys: list[str], fenced: tuple[int, str] | None) -> None:
    with services.db.session() as session:
        if fenced is not None:
            fence(session, *fenced)
        for key in keys:
            scope, target = key.split(":", 1)
            row = session.get(Area, target) if scope == "area" else session.get(Device, target)
            if row is not None:
                row.desired_version += 1


async def republish_since(services: Services, since_ms: int) -> list[str]:
    """Publish again every target last published since since_ms; returns them.

    A broker saves its retained messages every so often (Mosquitto: 30 s); one that died comes back
    with the copies of its last save, older than what was published after it. Agents holding the
    newer state ignore the older copy, but one that starts afresh would take it until its birth
    is answered: publishing those targets again when the controller reconnects puts the current
    state back on the broker.
    """
    raw = await services.redis.hgetall(desired.PUBLISHED_KEY)
    recent = [text(key) for key, value in raw.items()
              if (record := parse_record(value)) is not None and record.published_ms >= since_ms]
    await desired.publish_targets(services, recent)
    if recent:
        log.info("desired state of %d targets published again after the broker connection came back",
                 len(recent))
    return recent
