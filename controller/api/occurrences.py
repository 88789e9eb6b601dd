"""Occurrences: add and remove concrete plays for an area or a device (whole-tree admins only).

This low-level road goes through the airtime gate like every other: an emergency or live
occurrence is confirmed with `confirm_password`, quiet hours need `quiet_override`, and a
target area that requires approval takes none (an occurrence has no approved bulletin).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field, StringConstraints, ValidationError

from ..errors import DomainError
from .deps import AirtimeDep, PrincipalDep
from .schemas import SlugField, _In

router = APIRouter(prefix="/occurrences", tags=["occurrences"])


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
    confirm_password: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        None, description="your password again, for an emergency or live occurrence")


class OccurrenceAdded(BaseModel):
    """The new occurrence's id."""

    id: str


@router.post("", response_model=OccurrenceAdded, status_code=201, summary="Add an occurrence")
async def add(body: OccurrenceCreate, airtime: AirtimeDep, principal: PrincipalDep) -> OccurrenceAdded:
    """Schedule one play; the target's desired state is published at once."""
    fields = body.model_dump(exclude={"area_id", "device_id", "confirm_password"}, exclude_none=True)
    try:
        occurrence_id = await airtime.add_occurrence(principal, body.area_id, body.device_id, fields,
                                                     body.confirm_password)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:10])
        raise DomainError("occurrence_invalid", problems, 422) from None
    return OccurrenceAdded(id=occurrence_id)


@router.delete("/{occurrence_id}", status_code=204, summary="Remove an occurrence")
async def remove(occurrence_id: str, airtime: AirtimeDep, principal: PrincipalDep) -> None:
    """Remove a play that has not happened yet (or stop scheduling it again)."""
    await airtime.remove_occurrence(principal, occurrence_id)
