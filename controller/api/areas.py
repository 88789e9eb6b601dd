"""Areas: the tree of provinces, regions, communes and villages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from sqlalchemy import select

from .. import audit
from ..db.models import Area
from ..fleet.areas import AreaError, create_area, visible
from ..security.roles import Permission
from .deps import Principal, PrincipalDep, ServicesDep, ensure_in_scope, require
from .schemas import AreaCreate, AreaPublic

router = APIRouter(prefix="/areas", tags=["areas"])


@router.get("", response_model=list[AreaPublic], summary="List the areas you can see")
async def list_areas(services: ServicesDep, principal: PrincipalDep) -> list[Area]:
    """Every area in the caller's subtree, parents before children."""
    with services.db.session() as session:
        areas = session.scalars(select(Area).order_by(Area.id)).all()
    return visible(areas, principal.scope)


@router.post("", response_model=AreaPublic, status_code=201, summary="Create an area")
async def add_area(
    body: AreaCreate,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require(Permission.MANAGE_AREAS))],
) -> Area:
    """Create an area under a parent inside the caller's scope (a root only for unscoped admins)."""
    if body.parent_id is None and principal.scope is not None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin of the whole tree may add a root")
    if body.parent_id is not None:
        ensure_in_scope(principal, body.parent_id)
    fields = body.model_dump(exclude={"name", "level", "parent_id", "id"})
    try:
        with services.db.session() as session:
            area = create_area(session, body.name, body.level, body.parent_id, body.id, **fields)
            audit.record(session, principal.username, "area.create", [area.id], parent=body.parent_id)
    except (AreaError, ValueError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return area


@router.get("/{area_id}", response_model=AreaPublic, summary="Get one area")
async def get_area(area_id: str, services: ServicesDep, principal: PrincipalDep) -> Area:
    """One area in the caller's scope."""
    with services.db.session() as session:
        area = session.get(Area, area_id)
    if area is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such area")
    ensure_in_scope(principal, area_id)
    return area
