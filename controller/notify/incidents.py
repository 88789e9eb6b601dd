"""Raise and resolve incidents, each once, and queue one message per subscription that hears of it.

An incident and its messages are written in one transaction. Its open key is unique in the
database, so when two controllers (or one, again after a restart) see the same cause, the second
insert fails and nothing more is queued; a message's own dedupe key makes each one exist once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..context import Services
from ..db.models import Area, Incident, NotificationMessage, NotificationSubscription, utcnow
from ..fleet.areas import DEFAULT_TIMEZONE, effective, parent_map, subtree
from . import texts
from .rules import LASTING, Kind, covers, wants

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Raised:
    """What a detector tells: the kind, what it is about, where, a short title and details."""

    kind: Kind
    subject: str
    area_ids: list[str]
    title: str
    details: dict[str, Any] = field(default_factory=dict)


def open_key(kind: str, subject: str) -> str:
    """The unique key of an incident while it can recur (long subjects are hashed to fit)."""
    key = f"{kind}:{subject}"
    return key if len(key) <= 300 else f"{kind}:sha256:{hashlib.sha256(subject.encode()).hexdigest()}"


def open_incident(session: Session, raised: Raised) -> Incident | None:
    """Record the incident and queue its messages; None when it is open (or was told) already."""
    now = utcnow()
    incident = Incident(kind=raised.kind.value, subject=raised.subject[:200],
                        open_key=open_key(raised.kind, raised.subject), area_ids=sorted(set(raised.area_ids)),
                        title=raised.title[:300], details={**raised.details, "area_names": _names(
                            session, raised.area_ids)}, opened_at=now,
                        resolved_at=None if raised.kind in LASTING else now)
    try:
        with session.begin_nested():
            session.add(incident)
    except IntegrityError:
        return None
    queue(session, incident, "opened")
    return incident


def resolve_incident(session: Session, kind: Kind, subject: str) -> Incident | None:
    """Close the open incident of this cause and queue its messages; None when none was open."""
    key = open_key(kind, subject)
    incident = session.scalars(select(Incident).where(Incident.open_key == key)).first()
    if incident is None or incident.resolved_at is not None:
        return None
    now = utcnow()
    closed = session.execute(update(Incident).where(Incident.id == incident.id, Incident.open_key == key)
                             .values(open_key=None, resolved_at=now))
    if getattr(closed, "rowcount", 0) != 1:
        return None  # another controller resolved it meanwhile
    session.refresh(incident)
    queue(session, incident, "resolved")
    return incident


def queue(session: Session, incident: Incident, purpose: str) -> int:
    """Queue the incident's message for every subscription that hears of it; returns how many."""
    parents = parent_map(session)
    zone = zone_of(session, incident.area_ids[0] if incident.area_ids else None)
    text = texts.body_text(incident, purpose, zone)
    subject = texts.subject_line(incident, purpose)
    queued = 0
    for subscription in session.scalars(select(NotificationSubscription)):
        if not hears(subscription, incident, parents):
            continue
        session.add(NotificationMessage(
            dedupe_key=f"incident:{incident.id}:{purpose}:{subscription.id}", subscription_id=subscription.id,
            incident_id=incident.id, purpose=purpose, subject=subject, body=text,
            payload=texts.payload(incident, purpose, text)))
        queued += 1
    return queued


def hears(subscription: NotificationSubscription, incident: Incident, parents: dict[str, str | None]) -> bool:
    """Whether a subscription is told of an incident: its role's kinds, in its area."""
    if not wants(subscription.role, subscription.kinds or [], incident.kind):
        return False
    below = subtree(parents, subscription.area_id) if subscription.area_id in parents else None
    return covers(subscription.area_id, below, incident.area_ids)


def zone_of(session: Session, area_id: str | None) -> ZoneInfo:
    """An area's time zone (inherited from above; the default when none is set)."""
    name = effective(session, area_id, "timezone") if area_id else None
    return ZoneInfo(str(name or DEFAULT_TIMEZONE))


def _names(session: Session, area_ids: list[str]) -> list[str]:
    names = dict(session.execute(select(Area.id, Area.name).where(Area.id.in_(area_ids))).all())
    return [names.get(area_id, area_id) for area_id in sorted(set(area_ids))]


async def raise_incident(services: Services, raised: Raised) -> bool:
    """Open an incident (in a worker thread); True when it is new. Never raises: telling is secondary
    to whatever detected it."""
    def write() -> bool:
        with services.db.session() as session:
            return open_incident(session, raised) is not None
    try:
        opened = await asyncio.to_thread(write)
    except Exception:
        log.exception("incident %s %s not recorded", raised.kind, raised.subject)
        return False
    if opened:
        log.info("incident %s opened: %s", raised.kind, raised.subject)
    return opened


async def resolve(services: Services, kind: Kind, subject: str) -> bool:
    """Resolve the open incident of a cause (in a worker thread); True when one was. Never raises."""
    def write() -> bool:
        with services.db.session() as session:
            return resolve_incident(session, kind, subject) is not None
    try:
        resolved = await asyncio.to_thread(write)
    except Exception:
        log.exception("incident %s %s not resolved", kind, subject)
        return False
    if resolved:
        log.info("incident %s resolved: %s", kind, subject)
    return resolved


def open_subjects(session: Session, kind: Kind) -> set[str]:
    """The subjects of the incidents of kind still open."""
    return set(session.scalars(select(Incident.subject).where(
        Incident.kind == kind.value, Incident.open_key.is_not(None), Incident.resolved_at.is_(None))))


def still_open(session: Session, since: datetime | None = None) -> list[Incident]:
    """Every lasting incident still open, oldest first (opened before since, when given)."""
    query = select(Incident).where(Incident.resolved_at.is_(None)).order_by(Incident.opened_at)
    if since is not None:
        query = query.where(Incident.opened_at < since)
    return list(session.scalars(query))
