"""An outline file is checked whole before anything is stored: what a sound file gives, and the code
and field of each fault, hostile files included."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.fleet.outline_file import MAX_FILE_BYTES, MAX_VERTICES, OutlineError, parse, point_inside

pytestmark = pytest.mark.unit

SQUARE = [[105.0, 18.0], [105.1, 18.0], [105.1, 18.1], [105.0, 18.1], [105.0, 18.0]]


def collection(*features: dict[str, Any]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


def feature(geometry: Any, **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def polygon(*rings: Any) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def refusal(raw: bytes) -> tuple[str, str | None]:
    with pytest.raises(OutlineError) as caught:
        parse(raw)
    return caught.value.code, caught.value.field


def test_a_sound_file_gives_each_areas_polygons_by_id_or_name() -> None:
    multi = {"type": "MultiPolygon", "coordinates": [[SQUARE], [[[p[0] + 1, p[1], 12.5] for p in SQUARE]]]}
    outlines = parse(b"\xef\xbb\xbf" + collection(feature(polygon(SQUARE), area_id="thon-dong"),
                                                   feature(multi, name=" Thôn Đoài ", area_id=None)))
    assert [(o.area_id, o.name) for o in outlines] == [("thon-dong", None), (None, "Thôn Đoài")]
    assert outlines[0].polygons == [[[tuple(p) for p in SQUARE]]]
    assert len(outlines[1].polygons) == 2
    assert outlines[1].polygons[1][0][0] == (106.0, 18.0), "the altitude is dropped"
    assert outlines[1].vertices == 10


@pytest.mark.parametrize(("raw", "code", "field"), [
    (b"not json", "outline_not_json", "file"),
    (b"\xff\xfe{}", "outline_not_json", "file"),
    (b"[" * 100_000 + b"]" * 100_000, "outline_not_json", "file"),
    (json.dumps({"type": "Feature"}).encode(), "outline_not_feature_collection", "type"),
    (json.dumps({"type": "FeatureCollection", "features": []}).encode(), "outline_no_features", "features"),
    (collection({"type": "Point"}), "outline_bad_feature", "features[0]"),
    (collection(feature(polygon(SQUARE))), "outline_no_area", "features[0].properties"),
    (collection(feature(polygon(SQUARE), name=7)), "outline_no_area", "features[0].properties.name"),
    (collection(feature(polygon(SQUARE), area_id="a" * 201)), "outline_no_area",
     "features[0].properties.area_id"),
    (collection(feature({"type": "Point", "coordinates": [105, 18]}, name="x")), "outline_bad_geometry",
     "features[0].geometry"),
    (collection(feature({"type": "GeometryCollection", "geometries": []}, name="x")), "outline_bad_geometry",
     "features[0].geometry"),
    (collection(feature({"type": "MultiPolygon", "coordinates": []}, name="x")), "outline_bad_geometry",
     "features[0].geometry.coordinates"),
    (collection(feature(polygon(SQUARE[:-1]), name="x")), "outline_bad_ring",
     "features[0].geometry.coordinates[0]"),
    (collection(feature(polygon(SQUARE[:2] + SQUARE[:1]), name="x")), "outline_bad_ring",
     "features[0].geometry.coordinates[0]"),
    (collection(feature(polygon(SQUARE), name="a"), feature(polygon([[105, 95], *SQUARE[1:]]), name="b")),
     "outline_bad_position", "features[1].geometry.coordinates[0][0]"),
    (collection(feature(polygon([[True, 18.0], *SQUARE[1:]]), name="x")), "outline_bad_position",
     "features[0].geometry.coordinates[0][0]"),
    (collection(feature(polygon([["105", 18.0], *SQUARE[1:]]), name="x")), "outline_bad_position",
     "features[0].geometry.coordinates[0][0]"),
    (collection(feature(polygon([[10 ** 400, 18.0], *SQUARE[1:]]), name="x")), "outline_bad_position",
     "features[0].geometry.coordinates[0][0]"),
])
def test_each_fault_is_refused_with_its_code_and_where_it_is(raw: bytes, code: str, field: str) -> None:
    assert refusal(raw) == (code, field)


def test_not_a_number_and_infinity_are_refused() -> None:
    raw = collection(feature(polygon(SQUARE), name="x")).replace(b"105.1", b"NaN", 1)
    assert refusal(raw) == ("outline_not_json", "file")
    raw = collection(feature(polygon(SQUARE), name="x")).replace(b"105.1", b"Infinity", 1)
    assert refusal(raw) == ("outline_not_json", "file")


def test_size_and_vertex_count_are_bounded() -> None:
    assert refusal(b" " * (MAX_FILE_BYTES + 1)) == ("outline_too_large", "file")
    ring = [[105.0 + i * 1e-6, 18.0] for i in range(MAX_VERTICES // 2)] + [[105.0, 18.1], [105.0, 18.0]]
    raw = collection(feature(polygon(ring), name="a"), feature(polygon(ring), name="b"))
    assert len(raw) < MAX_FILE_BYTES * 2
    assert refusal(raw) == ("outline_too_many_vertices", "file")


def test_the_label_point_lies_inside_a_crescent_and_outside_its_hole() -> None:
    crescent = [(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0), (0.0, 3.0), (3.0, 3.0), (3.0, 1.0),
                (0.0, 1.0), (0.0, 0.0)]
    x, y = point_inside([[crescent]])
    assert 3.0 < x < 4.0 and 1.0 < y < 3.0, "in the crescent's back, not its empty middle"
    outer = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (0.0, 0.0)]
    hole = [(2.0, 2.0), (8.0, 2.0), (8.0, 8.0), (2.0, 8.0), (2.0, 2.0)]
    x, y = point_inside([[[(0.0, 0.0), (0.1, 0.0), (0.1, 0.1), (0.0, 0.0)]], [outer, hole]])
    assert not (2.0 < x < 8.0 and 2.0 < y < 8.0) and 0.0 < x < 10.0, "the largest polygon, beside its hole"
