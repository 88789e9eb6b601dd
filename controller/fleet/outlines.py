"""Areas' administrative outlines: imported from a GeoJSON file by an admin (each feature names its area
by id, or by name within the admin's scope), and served to the map as a FeatureCollection."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..db.models import Area, AreaOutline, utcnow
from ..db.session import Database
from ..errors import DomainError
from . import outline_file
from .areas import parent_map, subtree
from .outline_file import Outline, OutlineError


@dataclass(frozen=True)
class Imported:
    """What an import stored: the areas whose outline it set, and how many positions in all."""

    area_ids: list[str]
    vertices: int


def import_file(db: Database, actor: str, raw: bytes, scope: set[str] | None) -> Imported:
    """Check a whole GeoJSON file, then set the outline of every area it names (others keep theirs).

    Nothing is stored unless every feature is sound and names exactly one area in scope."""
    outlines = outline_file.parse(raw)
    with db.session() as session:
        area_ids = resolve(session, outlines, scope)
        for area_id, outline in zip(area_ids, outlines, strict=True):
            _store(session, area_id, outline)
        total = sum(outline.vertices for outline in outlines)
        audit.record(session, actor, "area.outlines", area_ids, vertices=total)
    return Imported(area_ids, total)


def resolve(session: Session, outlines: list[Outline], scope: set[str] | None) -> list[str]:
    """The area each outline names, in order: by id, else by name, always within scope."""
    areas = [(area_id, name) for area_id, name in session.execute(select(Area.id, Area.name))
             if scope is None or area_id in scope]
    ids = {area_id for area_id, _ in areas}
    by_name: dict[str, list[str]] = {}
    for area_id, name in areas:
        by_name.setdefault(_comparable(name), []).append(area_id)
    found: list[str] = []
    for outline in outlines:
        area_id = _named_area(outline, ids, by_name)
        if area_id in found:
            raise OutlineError("outline_duplicate_area", f"area {area_id!r} has two outlines in the file",
                               outline.field)
        found.append(area_id)
    return found


def _named_area(outline: Outline, ids: set[str], by_name: dict[str, list[str]]) -> str:
    if outline.area_id is not None:
        if outline.area_id not in ids:
            raise OutlineError("outline_unknown_area", f"no area {outline.area_id!r} within your scope",
                               f"{outline.field}.properties.area_id")
        return outline.area_id
    matches = by_name.get(_comparable(outline.name or ""), [])
    if len(matches) != 1:
        code = "outline_ambiguous_name" if matches else "outline_unknown_area"
        raise OutlineError(code, f"{len(matches)} areas within your scope are named {outline.name!r}; "
                           "give area_id instead", f"{outline.field}.properties.name")
    return matches[0]


def _comparable(name: str) -> str:
    """A name as compared: Unicode-normalised (Vietnamese accents come composed or not), case-folded."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def _store(session: Session, area_id: str, outline: Outline) -> None:
    longitude, latitude = outline_file.point_inside(outline.polygons)
    coordinates = [[[list(point) for point in ring] for ring in polygon] for polygon in outline.polygons]
    session.merge(AreaOutline(area_id=area_id, coordinates=coordinates, vertices=outline.vertices,
                              label_longitude=longitude, label_latitude=latitude, updated_at=utcnow()))


def collection(db: Database, scope: set[str] | None, within: str | None) -> dict[str, Any]:
    """The outlines of the areas in scope (and at or below within, when given) as a FeatureCollection;
    each feature's properties name its area, level and parent, and the point for its label."""
    with db.session() as session:
        wanted = _wanted_areas(session, scope, within)
        rows = session.execute(select(Area, AreaOutline).join(AreaOutline, AreaOutline.area_id == Area.id)
                               .order_by(Area.id)).all()
        features = [_feature(area, outline) for area, outline in rows if wanted is None or area.id in wanted]
    return {"type": "FeatureCollection", "features": features}


def _wanted_areas(session: Session, scope: set[str] | None, within: str | None) -> set[str] | None:
    if within is None:
        return scope
    if (scope is not None and within not in scope) or session.get(Area, within) is None:
        raise DomainError("unknown_area", f"no area {within!r} within your scope", 404, "within")
    return subtree(parent_map(session), within)


def _feature(area: Area, outline: AreaOutline) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "MultiPolygon", "coordinates": outline.coordinates},
        "properties": {
            "area_id": area.id, "name": area.name, "level": area.level, "parent_id": area.parent_id,
            "label": [outline.label_longitude, outline.label_latitude],
        },
    }
