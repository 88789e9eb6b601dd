"""The whole fleet at a glance, for the console's dashboard."""

from __future__ import annotations

from fastapi import APIRouter

from ..fleet.overview import overview
from .deps import ServicesDep, ViewerDep
from .schemas import FleetOverview

router = APIRouter(prefix="/fleet", tags=["devices"])


@router.get("/overview", response_model=FleetOverview, summary="Every cluster you can see, in brief")
async def fleet_overview(services: ServicesDep, principal: ViewerDep) -> FleetOverview:
    """Each cluster in your scope: name, area, position, whether it is online and what it plays.

    One reading of the whole fleet (the dashboard's, once a minute); the event feed says what
    changes in between."""
    clusters = await overview(services.db, services.presence, principal.scope)
    return FleetOverview.model_validate(clusters, from_attributes=True)
