"""Administrative outlines of areas for the map: imported as GeoJSON by an admin, read by the console."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..fleet import outlines
from ..security.roles import Permission
from .deps import Principal, ServicesDep, ViewerDep, require

router = APIRouter(prefix="/areas/outlines", tags=["areas"])

OBJECT: dict[str, Any] = {"schema": {"type": "object"}}
GEOJSON_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/geo+json": OBJECT, "application/json": OBJECT}}}


class OutlinesImported(BaseModel):
    """What an import stored."""

    area_ids: list[str] = Field(description="the areas whose outline the file set, in the file's order")
    vertices: int = Field(description="positions stored in all")


@router.put("", response_model=OutlinesImported, openapi_extra=GEOJSON_BODY,
            summary="Import areas' outlines from a GeoJSON file")
async def import_outlines(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require(Permission.MANAGE_AREAS))],
) -> OutlinesImported:
    """Set the outline of each area a GeoJSON FeatureCollection names; other areas keep theirs.

    Each feature is a Polygon or MultiPolygon naming its area in `properties.area_id`, or in
    `properties.name` (matched within your scope, case and accents' encoding aside). At most
    5 MB, 5,000 features and 250,000 positions. A file with any
    fault (its code and `field` say which, e.g. `features[2].geometry`) stores nothing."""
    raw = await request.body()
    imported = await run_in_threadpool(outlines.import_file, services.db, principal.username, raw,
                                       principal.scope)
    return OutlinesImported(area_ids=imported.area_ids, vertices=imported.vertices)


@router.get("", summary="Areas' outlines, for the map")
async def read_outlines(
    services: ServicesDep,
    principal: ViewerDep,
    within: Annotated[str | None, Query(max_length=48, description="this area and those below")] = None,
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the outlines of areas in your scope: each feature's properties
    give `area_id`, `name`, `level`, `parent_id` and `label` ([longitude, latitude] of a point inside,
    where the map writes the name)."""
    return await run_in_threadpool(outlines.collection, services.db, principal.scope, within)
