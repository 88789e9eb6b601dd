"""The daily digest: once a day, at `notify_digest_at` in the time zone of each subscription's
area, one message listing every incident it hears of that is still open.

A digest is a queued message like any other, whose dedupe key names the subscription and the local
day, so it is queued once a day whichever controller comes first (a day with nothing open records
an empty one, so nothing broken later that day sends it late). A subscription made after the
day's digest time has its first digest the next day. `queue_digests(..., force=True)` queues
today's at once (the API's `POST /api/v1/notifications/digest`). Messages and resolved incidents
older than KEEP_DAYS are forgotten.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..context import Services
from ..db.models import Incident, NotificationMessage, NotificationSubscription, utcnow
from ..fleet.areas import parent_map
from . import texts
from .incidents import hears, still_open, zone_of

log = logging.getLogger(__name__)

CHECK_S = 60.0
PRUNE_EVERY = 60  # checks: once an hour
KEEP_DAYS = 180


def digest_time(setting: str) -> time:
    """The setting's HH:MM as a time of day."""
    hours, minutes = setting.split(":")
    return time(int(hours), int(minutes))


def queue_digests(session: Session, at: time, now: datetime, force: bool = False,
                  only: set[int] | None = None) -> int:
    """Queue today's digest of every subscription (of only these, when given) whose time has come
    (any time, with force); returns how many were queued with something to tell."""
    parents = parent_map(session)
    open_incidents = still_open(session)
    queued = 0
    everyone = select(NotificationSubscription).order_by(NotificationSubscription.id)
    for subscription in session.scalars(everyone):
        if only is not None and subscription.id not in only:
            continue
        zone = zone_of(session, subscription.area_id)
        local = now.astimezone(zone)
        due = datetime.combine(local.date(), at, zone)
        if not force and (local < due or subscription.created_at >= due):
            continue
        told = [incident for incident in open_incidents if hears(subscription, incident, parents)]
        if _add_digest(session, subscription.id, local.date().isoformat(), told, zone):
            queued += 1 if told else 0
    return queued


def _add_digest(session: Session, subscription_id: int, day: str, told: list[Incident], zone: Any) -> bool:
    """Queue one subscription's digest of a day; False when it was queued already."""
    key = f"digest:{subscription_id}:{day}"
    queued = select(NotificationMessage.id).where(NotificationMessage.dedupe_key == key)
    if session.scalar(queued) is not None:
        return False
    subject, text = texts.digest_text(told, zone)
    message = NotificationMessage(
        dedupe_key=key, subscription_id=subscription_id, purpose="digest", subject=subject, body=text,
        payload={"event": "digest", "day": day, "text": text,
                 "incidents": [texts.incident_json(incident) for incident in told]},
        status="pending" if told else "empty")
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:  # another controller queued it meanwhile
        return False
    return True


async def send_digests(services: Services, force: bool = False, only: set[int] | None = None) -> int:
    """Queue the digests due now (in a worker thread); returns how many have something to tell."""
    def write() -> int:
        with services.db.session() as session:
            at = digest_time(services.settings.notify_digest_at)
            return queue_digests(session, at, utcnow(), force, only)
    return await asyncio.to_thread(write)


def prune(session: Session, before: datetime) -> None:
    """Forget the messages queued before a moment, and the incidents resolved before it."""
    session.execute(delete(NotificationMessage).where(NotificationMessage.created_at < before))
    session.execute(delete(Incident).where(Incident.resolved_at < before))


async def digester(services: Services) -> None:
    """Queue the due digests every CHECK_S, and forget what is older than KEEP_DAYS once an hour,
    forever; never raises."""
    for check in itertools.count():
        try:
            queued = await send_digests(services)
            if queued:
                log.info("notifications: %s daily digests queued", queued)
            if check % PRUNE_EVERY == 0:
                await asyncio.to_thread(_prune, services)
        except Exception:
            log.exception("notifications: digests failed; trying again")
        await asyncio.sleep(CHECK_S)


def _prune(services: Services) -> None:
    with services.db.session() as session:
        prune(session, utcnow() - timedelta(days=KEEP_DAYS))
