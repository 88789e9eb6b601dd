"""Administrative outlines from a GeoJSON file (RFC 7946): read, checked, and reduced to what the map
draws, each area's polygons. Nothing in a file is trusted: its size, nesting, feature count, vertex
count, numbers and shapes are all bounded, and the first fault refuses the whole file."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from ..errors import DomainError

MAX_FILE_BYTES = 5_000_000
MAX_FEATURES = 5_000
MAX_VERTICES = 250_000
MAX_NAME_LENGTH = 200
DECIMALS = 6  # about 0.1 m: more is noise, and only makes the stored outline longer

Position = tuple[float, float]  # (longitude, latitude), as GeoJSON orders them
Ring = list[Position]
Polygon = list[Ring]  # the outer ring, then any holes


class OutlineError(DomainError):
    """An outline file cannot be imported; field says where in the file (e.g. features[2].geometry)."""

    def __init__(self, code: str, message: str, field: str = "file", status: int = 422) -> None:
        super().__init__(code, message, status, field)


@dataclass(frozen=True)
class Outline:
    """One feature of the file: the area it names (by id, else by name) and its polygons."""

    area_id: str | None
    name: str | None
    polygons: list[Polygon]
    field: str

    @property
    def vertices(self) -> int:
        """How many positions the outline has."""
        return sum(len(ring) for polygon in self.polygons for ring in polygon)


def parse(raw: bytes) -> list[Outline]:
    """The outlines of a GeoJSON FeatureCollection of Polygon and MultiPolygon features."""
    if len(raw) > MAX_FILE_BYTES:
        raise OutlineError("outline_too_large", f"an outline file is at most {MAX_FILE_BYTES} bytes",
                           status=413)
    features = _features(_load(raw))
    outlines = [_outline(feature, f"features[{index}]") for index, feature in enumerate(features)]
    if sum(outline.vertices for outline in outlines) > MAX_VERTICES:
        raise OutlineError("outline_too_many_vertices",
                           f"an outline file has at most {MAX_VERTICES} positions in all")
    return outlines


def _load(raw: bytes) -> object:
    """The JSON document; NaN, Infinity and nesting deep enough to exhaust the parser are refused."""
    try:
        return json.loads(raw.decode("utf-8-sig"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise OutlineError("outline_not_json", "the file is not GeoJSON (JSON text in UTF-8)") from None


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number GeoJSON allows")


def _features(document: object) -> list[Any]:
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise OutlineError("outline_not_feature_collection",
                           "the file must be a GeoJSON FeatureCollection", "type")
    features = document.get("features")
    if not isinstance(features, list) or not features:
        raise OutlineError("outline_no_features", "the FeatureCollection has no features", "features")
    if len(features) > MAX_FEATURES:
        raise OutlineError("outline_too_many_features",
                           f"an outline file has at most {MAX_FEATURES} features", "features")
    return features


def _outline(feature: object, where: str) -> Outline:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise OutlineError("outline_bad_feature", "each feature must be a GeoJSON Feature", where)
    area_id, name = _area_reference(feature.get("properties"), f"{where}.properties")
    polygons = _polygons(feature.get("geometry"), f"{where}.geometry")
    return Outline(area_id, name, polygons, where)


def _area_reference(properties: object, where: str) -> tuple[str | None, str | None]:
    """The feature's `area_id`, else its `name`: one of them must be a non-empty string."""
    if not isinstance(properties, dict):
        properties = {}
    area_id, name = properties.get("area_id"), properties.get("name")
    for value, key in ((area_id, "area_id"), (name, "name")):
        if value is not None and not (isinstance(value, str) and 0 < len(value.strip()) <= MAX_NAME_LENGTH):
            raise OutlineError("outline_no_area",
                               f"{key} must be a text of 1 to {MAX_NAME_LENGTH} characters", f"{where}.{key}")
    if area_id is None and name is None:
        raise OutlineError("outline_no_area", "each feature names its area in area_id or name", where)
    return (area_id.strip() if area_id else None), (name.strip() if name else None)


def _polygons(geometry: object, where: str) -> list[Polygon]:
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise OutlineError("outline_bad_geometry",
                           "each feature's geometry must be a Polygon or a MultiPolygon", where)
    coordinates = geometry.get("coordinates")
    where = f"{where}.coordinates"
    if geometry["type"] == "Polygon":
        return [_polygon(coordinates, where)]
    if not isinstance(coordinates, list) or not coordinates:
        raise OutlineError("outline_bad_geometry", "a MultiPolygon is a list of polygons", where)
    return [_polygon(polygon, f"{where}[{index}]") for index, polygon in enumerate(coordinates)]


def _polygon(rings: object, where: str) -> Polygon:
    if not isinstance(rings, list) or not rings:
        raise OutlineError("outline_bad_geometry", "a polygon is a list of rings, the outer one first", where)
    return [_ring(ring, f"{where}[{index}]") for index, ring in enumerate(rings)]


def _ring(positions: object, where: str) -> Ring:
    """A closed ring: at least four positions, the last the same as the first."""
    if not isinstance(positions, list) or len(positions) > MAX_VERTICES:
        raise OutlineError("outline_bad_geometry", "a ring is a list of positions", where)
    ring = [_position(position, f"{where}[{index}]") for index, position in enumerate(positions)]
    if len(ring) < 4 or ring[0] != ring[-1]:
        raise OutlineError("outline_bad_ring",
                           "a ring needs at least four positions, the last one equal to the first", where)
    return ring


def _position(position: object, where: str) -> Position:
    """(longitude, latitude), rounded; an altitude is dropped."""
    if not isinstance(position, list) or len(position) not in (2, 3) or not all(
            _is_number(value) for value in position):
        raise OutlineError("outline_bad_position", "a position is [longitude, latitude] in degrees", where)
    longitude, latitude = float(position[0]), float(position[1])
    if not (-180 <= longitude <= 180 and -90 <= latitude <= 90):
        raise OutlineError("outline_bad_position",
                           "a position is [longitude, latitude]: longitude within ±180, latitude within ±90",
                           where)
    return round(longitude, DECIMALS), round(latitude, DECIMALS)


def _is_number(value: object) -> bool:
    """A finite JSON number (an integer too long for a float is not one)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return abs(value) < 1e300 and math.isfinite(value)


def point_inside(polygons: list[Polygon]) -> Position:
    """A point inside the largest polygon, where the map puts the area's name: the middle of the widest
    stretch inside it along the parallel through its centroid (a centroid alone may fall outside a
    crescent-shaped village, or in a hole)."""
    polygon = max(polygons, key=lambda p: abs(_signed_area(p[0])))
    latitude = _centroid_latitude(polygon[0])
    crossings = sorted(_crossings(polygon, latitude))
    spans = list(zip(crossings[0::2], crossings[1::2], strict=False))
    if not spans:
        return polygon[0][0]
    west, east = max(spans, key=lambda span: span[1] - span[0])
    return round((west + east) / 2, DECIMALS), round(latitude, DECIMALS)


def _signed_area(ring: Ring) -> float:
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in pairwise(ring)) / 2


def _centroid_latitude(ring: Ring) -> float:
    area = _signed_area(ring)
    if area == 0:
        return (min(y for _, y in ring) + max(y for _, y in ring)) / 2
    moment = sum((y1 + y2) * (x1 * y2 - x2 * y1) for (x1, y1), (x2, y2) in pairwise(ring))
    return moment / (6 * area)


def _crossings(polygon: Polygon, latitude: float) -> list[float]:
    """The longitudes where the polygon's edges (holes' too) cross the parallel at latitude."""
    found = []
    for ring in polygon:
        for (x1, y1), (x2, y2) in pairwise(ring):
            if (y1 <= latitude < y2) or (y2 <= latitude < y1):
                found.append(x1 + (latitude - y1) * (x2 - x1) / (y2 - y1))
    return found
