"""Administrative outlines of areas for the map: imported as GeoJSON by an admin, read by the console."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
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


@router.get("", summary="Areas' outlines, for the map",
            responses={200: {"content": {"application/geo+json": {}}}, 304: {"description": "not changed"}})
async def read_outlines(
    services: ServicesDep,
    principal: ViewerDep,
    within: Annotated[str | None, Query(max_length=48, description="this area and those below")] = None,
    if_none_match: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """A GeoJSON FeatureCollection of the outlines of areas in your scope: each feature's properties
    give `area_id`, `name`, `level`, `parent_id` and `label` ([longitude, latitude] of a point inside,
    where the map writes the name).

    The answer carries an ETag: a browser that has it already (a reload on a slow link) is answered
    304 with no body."""
    collection = await run_in_threadpool(outlines.collection, services.db, principal.scope, within)
    body = json.dumps(collection, ensure_ascii=False, separators=(",", ":")).encode()
    tag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": tag, "Cache-Control": "private, no-cache"}
    if if_none_match is not None and tag in (value.strip() for value in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/geo+json", headers=headers)
