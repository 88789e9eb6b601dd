"""Occurrences: add and remove concrete plays for an area or a device."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field, ValidationError

from ..db.models import Area, Device, Occurrence
from ..fleet import occurrences
from ..fleet.occurrences import OccurrenceError
from ..security.roles import Permission
from .deps import Principal, ServicesDep, ensure_in_scope, require
from .schemas import SlugField, _In

router = APIRouter(prefix="/occurrences", tags=["occurrences"])
Operator = Annotated[Principal, Depends(require(Permission.CONFIGURE_DEVICES))]


class OccurrenceCreate(_In):
    """One play: what, when, at which level, for an area or one device."""

    area_id: SlugField | None = Field(None, examples=["xa-hoa-binh"])
    device_id: SlugField | None = None
    level: str = Field(examples=["normal"], description="emergency, live, priority, normal or background")
    start_ms: int = Field(description="start, ms since the epoch (UTC)")
    duration_ms: int = Field(examples=[120_000])
    source: dict[str, Any] = Field(examples=[{"type": "media", "sha256": "0" * 64, "size": 123456}])
    max_lateness_ms: int = 300_000
    valid_until_ms: int | None = None
    quiet_override: bool = False
    title: str = ""


class OccurrenceAdded(BaseModel):
    """The new occurrence's id."""

    id: str


def _scope_of(services: ServicesDep, area_id: str | None, device_id: str | None) -> str | None:
    with services.db.session() as session:
        if area_id:
            return area_id if session.get(Area, area_id) else None
        device = session.get(Device, device_id) if device_id else None
        return device.area_id if device else None


@router.post("", response_model=OccurrenceAdded, status_code=201, summary="Add an occurrence")
async def add(body: OccurrenceCreate, services: ServicesDep, principal: Operator) -> OccurrenceAdded:
    """Schedule one play; the target's desired state is published at once."""
    area = _scope_of(services, body.area_id, body.device_id)
    if area is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the target area or device does not exist")
    ensure_in_scope(principal, area)
    fields = body.model_dump(exclude={"area_id", "device_id"}, exclude_none=True)
    try:
        occurrence_id = await occurrences.add(
            services, principal.username, body.area_id, body.device_id, fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:10])
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problems) from None
    except OccurrenceError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return OccurrenceAdded(id=occurrence_id)


@router.delete("/{occurrence_id}", status_code=204, summary="Remove an occurrence")
async def remove(occurrence_id: str, services: ServicesDep, principal: Operator) -> None:
    """Remove a play that has not happened yet (or stop scheduling it again)."""
    with services.db.session() as session:
        row = session.get(Occurrence, occurrence_id[:48])
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such occurrence")
    area = _scope_of(services, row.area_id, row.device_id)
    if area is not None:
        ensure_in_scope(principal, area)
    await occurrences.remove(services, principal.username, occurrence_id)
