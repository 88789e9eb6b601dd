"""Occurrences: concrete times to play, addressed to an area (published once for it) or a device.

The scheduler of bulletins will write these; until then the API accepts them directly.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy.orm import Session

from loalang_protocol.messages import Occurrence as WireOccurrence

from .. import audit
from ..context import Services
from ..db.models import Area, Device, MediaItem, Occurrence
from . import desired


class OccurrenceError(ValueError):
    """An occurrence cannot be added; the message says why."""


def new_id() -> str:
    """A unique occurrence id (a slug)."""
    return "o-" + secrets.token_hex(8)


async def add(services: Services, actor: str, target_area: str | None, target_device: str | None,
              fields: dict[str, Any]) -> str:
    """Store an occurrence and publish the new desired state of its target; returns its id."""
    if (target_area is None) == (target_device is None):
        raise OccurrenceError("give exactly one of area_id and device_id")
    occurrence_id = new_id()
    issued = int(time.time() * 1000)
    wire = WireOccurrence.model_validate({**fields, "id": occurrence_id, "issued_ms": issued})
    with services.db.session() as session:
        target = session.get(Area, target_area) if target_area else session.get(Device, target_device)
        if target is None:
            raise OccurrenceError(f"{'area' if target_area else 'device'} does not exist")
        _check_media(session, wire.source.model_dump())
        session.add(Occurrence(
            id=occurrence_id, area_id=target_area, device_id=target_device, level=wire.level,
            start_ms=wire.start_ms, duration_ms=wire.duration_ms, source=wire.source.model_dump(),
            max_lateness_ms=wire.max_lateness_ms, valid_until_ms=wire.valid_until_ms,
            quiet_override=wire.quiet_override, issued_ms=issued, title=wire.title, created_by=actor,
        ))
        target.desired_version += 1
        audit.record(session, actor, "occurrence.add", [target_area or target_device or ""],
                     id=occurrence_id, level=wire.level, start_ms=wire.start_ms,
                     quiet_override=wire.quiet_override)
    await _publish(services, target_area, target_device)
    return occurrence_id


async def remove(services: Services, actor: str, occurrence_id: str) -> None:
    """Delete an occurrence and publish its target's new desired state."""
    with services.db.session() as session:
        row = session.get(Occurrence, occurrence_id)
        if row is None:
            raise OccurrenceError("no such occurrence")
        area_id, device_id = row.area_id, row.device_id
        target = session.get(Area, area_id) if area_id else session.get(Device, device_id)
        if target is not None:
            target.desired_version += 1
        session.delete(row)
        audit.record(session, actor, "occurrence.remove", [area_id or device_id or ""], id=occurrence_id)
    await _publish(services, area_id, device_id)


async def _publish(services: Services, area_id: str | None, device_id: str | None) -> None:
    if area_id:
        await desired.publish_area(services, area_id)
    elif device_id:
        await desired.publish_device(services, device_id)


def _check_media(session: Session, source: dict[str, Any]) -> None:
    """A media source must name a file of the library, with its size."""
    if source.get("type") != "media":
        return
    item = session.get(MediaItem, source["sha256"])
    if item is None:
        raise OccurrenceError("no such media in the library")
    if item.size != source["size"]:
        raise OccurrenceError(f"the media's size is {item.size}, not {source['size']}")
