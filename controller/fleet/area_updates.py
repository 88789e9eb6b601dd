"""Changing an area, and publishing what the change means for the areas below it."""

from __future__ import annotations

from .. import audit
from ..context import Services
from ..db.models import Area
from . import desired
from .areas import AreaError, parent_map, subtree


async def update_area(services: Services, actor: str, area_id: str, changes: dict[str, object]) -> Area:
    """Apply changes and publish the new desired state of the area and every area below it."""
    with services.db.session() as session:
        area = session.get(Area, area_id)
        if area is None:
            raise AreaError("unknown_area", "no such area", 404)
        for name, value in changes.items():
            setattr(area, name, value)
        below = subtree(parent_map(session), area_id)
        for affected in below:
            session.get(Area, affected).desired_version += 1  # type: ignore[union-attr]
        audit.record(session, actor, "area.update", [area_id], **{k: str(v) for k, v in changes.items()})
    for affected in sorted(below):
        await desired.publish_area(services, affected)
    return area
