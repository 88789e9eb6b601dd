"""What a CAP alert does: sound where it matches, only on test devices when it is a test, never when
it is a draft; a Cancel stops what it refers to, when the same client put it on the air and it
reaches only inside that client's scope (an admin may let a client also cancel the alerts of clients
inside its scope: `cancels_others`); a repeated post changes nothing; an expired one is refused.
Each client's alerts are its own: another client posting the same sender and identifier neither
hides nor cancels them. Sounding and cancelling go through the airtime service.

Areas are matched by their configured geocodes (`valueName:value`) or, failing those, by name
(the alert's areaDesc, compared without case), inside the posting client's scope. The spoken
text is the headline, then the instruction (or the description), in the Vietnamese `info` block
when there is one; the devices' own attention signal sounds first. Severity Extreme or Severe
makes an emergency, Moderate a priority broadcast, anything else a normal one. The alert's
expiry bounds when devices may still start it. An alert put on the air raises an incident, so
that those subscribed to its areas are told (controller/notify).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..airtime.service import Airtime, broadcast_in_scope
from ..broadcasting.broadcasts import target_areas
from ..context import Services
from ..db.models import ApiClient, Area, Broadcast, CapAlertRecord, Device, MediaItem
from ..errors import DomainError
from ..fleet.areas import parent_map, subtree
from ..media import library, speech
from ..media.library import Ingest
from ..notify.incidents import Raised, raise_incident
from ..notify.rules import Kind
from ..security.principal import Principal
from .cap import CapAlert, CapArea, CapError, CapInfo

ATTENTION_MS = 2000
ALERT_LATENESS_MS = 600_000
LEVELS = {"Extreme": "emergency", "Severe": "emergency", "Moderate": "priority"}


@dataclass(frozen=True)
class Outcome:
    """What the alert did, as the API answers it."""

    outcome: str
    detail: str = ""
    broadcast_id: str | None = None
    repeated: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The answer's body."""
        return {"outcome": self.outcome, "detail": self.detail, "broadcast_id": self.broadcast_id,
                "repeated": self.repeated}


async def receive(services: Services, airtime: Airtime, client: Principal, alert: CapAlert) -> Outcome:
    """Act on an alert once; a second post of the same (sender, identifier) by the same client returns
    the first outcome. Another client's post of the same pair is its own alert."""
    with services.db.session() as session:
        known = _record(session, client.username, alert.sender, alert.identifier)
        if known is not None:
            return Outcome(known.outcome, known.detail, known.broadcast_id, repeated=True)
    if alert.status in ("System", "Draft") or alert.msg_type in ("Ack", "Error"):
        result = Outcome("not_sounded", f"{alert.status} {alert.msg_type} alerts never sound")
    elif alert.msg_type == "Cancel":
        result = await _cancel(airtime, client, alert)
    else:
        _refuse_expired(alert)
        if alert.msg_type == "Update":
            await _cancel(airtime, client, alert)
        result = await _sound(services, airtime, client, alert)
    with services.db.session() as session:
        session.add(CapAlertRecord(
            sender=alert.sender[:200], identifier=alert.identifier[:200], sent=alert.sent.isoformat(),
            status=alert.status, msg_type=alert.msg_type, outcome=result.outcome, detail=result.detail[:500],
            broadcast_id=result.broadcast_id, client=client.username))
        audit.record(session, client.username, "alert.receive", [alert.identifier[:100]], status=alert.status,
                     msg_type=alert.msg_type, outcome=result.outcome, broadcast=result.broadcast_id)
        told = _incident(session, client, alert, result.broadcast_id) if result.broadcast_id else None
    if told is not None:
        await raise_incident(services, told)
    return result


def _incident(session: Session, client: Principal, alert: CapAlert, broadcast_id: str) -> Raised | None:
    """The incident an alert put on the air raises, so that those who subscribed are told."""
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None:
        return None
    areas = target_areas(session, broadcast.area_ids, broadcast.device_ids)
    return Raised(Kind.CAP_ALERT, f"{client.username}:{alert.sender}:{alert.identifier}", areas,
                  f"{broadcast.title} ({broadcast.level})",
                  {"broadcast_id": broadcast.id, "level": broadcast.level, "sender": alert.sender[:200],
                   "identifier": alert.identifier[:200], "client": client.username})


def _record(session: Session, client: str, sender: str, identifier: str) -> CapAlertRecord | None:
    return session.scalars(select(CapAlertRecord).where(
        CapAlertRecord.client == client, CapAlertRecord.sender == sender[:200],
        CapAlertRecord.identifier == identifier[:200])).first()


def _refuse_expired(alert: CapAlert) -> None:
    """An alert whose every info has expired would only be logged as missed by every receiver."""
    info = _chosen_info(alert)
    if info.expires is not None and info.expires <= datetime.now(UTC):
        raise DomainError("alert_expired", f"the alert expired at {info.expires.isoformat()}", 422, "expires")


async def _sound(services: Services, airtime: Airtime, client: Principal, alert: CapAlert) -> Outcome:
    info = _chosen_info(alert)
    with services.db.session() as session:
        areas = matching_areas(session, info.areas, client.scope)
        if not areas:
            return Outcome("no_matching_area", "no area of the alert matches an area here")
        devices = _test_devices(session, areas) if alert.status in ("Test", "Exercise") else []
    if alert.status in ("Test", "Exercise") and not devices:
        return Outcome("no_test_device", f"a {alert.status} alert sounds only on test devices; none here")
    text = speech.clean_text(". ".join(part for part in (info.headline or info.event,
                                                         info.instruction or info.description) if part))
    item = await library.from_text(services, services.speech, Ingest(
        title=(info.headline or info.event)[:200], kind="speech", actor=client.username, area_id=None,
        text=text), lambda _: None)
    fields = {"title": (info.headline or info.event)[:200], "level": LEVELS.get(info.severity, "normal"),
              "area_ids": [] if devices else areas, "device_ids": devices,
              "max_lateness_ms": ALERT_LATENESS_MS, "quiet_override": True}
    expires = int(info.expires.timestamp() * 1000) if info.expires else None
    with services.db.session() as session:
        stored = _media(session, item["sha256"])
    broadcast = await airtime.sound_alert(client, fields, stored, ATTENTION_MS, expires)
    return Outcome("broadcast", f"{broadcast.level} to {', '.join(areas)}"
                   + (f" ({len(devices)} test devices)" if devices else ""), broadcast.id)


def _media(session: Session, sha256: str) -> MediaItem:
    item = session.get(MediaItem, sha256)
    if item is None:
        raise CapError("the spoken alert could not be stored")
    return item


def _chosen_info(alert: CapAlert) -> CapInfo:
    if not alert.infos:
        raise CapError("an Alert or Update needs at least one <info>")
    vietnamese = [info for info in alert.infos if info.language.lower().startswith("vi")]
    return (vietnamese or list(alert.infos))[0]


def matching_areas(session: Session, cap_areas: tuple[CapArea, ...], scope: set[str] | None) -> list[str]:
    """The areas the alert's areas name, by geocode or else by name, inside scope."""
    found = set()
    areas = list(session.scalars(select(Area)))
    for cap_area in cap_areas:
        codes = {f"{name}:{value}" for name, value in cap_area.geocodes}
        by_code = [a.id for a in areas if codes & set(a.geocodes or [])]
        by_name = [a.id for a in areas if _folded(a.name) == _folded(cap_area.description)]
        found.update(by_code or by_name)
    return sorted(area for area in found if scope is None or area in scope)


def _folded(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def _test_devices(session: Session, areas: list[str]) -> list[str]:
    parents = parent_map(session)
    below = set().union(*(subtree(parents, area) for area in areas))
    return sorted(d.id for d in session.scalars(select(Device).where(Device.is_test.is_(True)))
                  if d.area_id in below)


async def _cancel(airtime: Airtime, client: Principal, alert: CapAlert) -> Outcome:
    """Stop the broadcasts of the alerts this one refers to: alerts this client put on the air (or,
    where an admin let it cancel others', alerts of clients inside its scope), and only where every
    area they reach is inside its scope."""
    found = []
    with airtime.services.db.session() as session:
        posters = _cancellable_posters(session, client)
        for sender, identifier, _sent in alert.references:
            for earlier in _records(session, sender, identifier):
                if earlier.client not in posters or earlier.broadcast_id is None:
                    continue
                broadcast = session.get(Broadcast, earlier.broadcast_id)
                if broadcast is not None and broadcast_in_scope(session, client, broadcast):
                    found.append((broadcast.id, identifier))
    stopped = []
    for broadcast_id, identifier in found:
        stopped += await airtime.withdraw_alerts(client, [broadcast_id], f"alert {identifier[:40]} cancelled")
    if not stopped:
        return Outcome("nothing_to_cancel", "no alert it may cancel is on the air")
    return Outcome("cancelled", ", ".join(stopped))


def _cancellable_posters(session: Session, client: Principal) -> set[str]:
    """Whose alerts a client's Cancel may end: its own; with `cancels_others`, those of every client
    whose area lies inside its scope (its scope is theirs or wider)."""
    row = session.get(ApiClient, client.username.removeprefix("client:"))
    if row is None or not row.cancels_others:
        return {client.username}
    others = session.scalars(select(ApiClient))
    return {client.username} | {f"client:{c.id}" for c in others if client.scope is None
                                or (c.area_id is not None and c.area_id in client.scope)}


def _records(session: Session, sender: str, identifier: str) -> list[CapAlertRecord]:
    return list(session.scalars(select(CapAlertRecord).where(
        CapAlertRecord.sender == sender[:200], CapAlertRecord.identifier == identifier[:200])))
