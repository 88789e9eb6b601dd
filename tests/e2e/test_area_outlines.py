"""Administrative outlines over the API: an admin imports a GeoJSON file for the areas in scope, each
user reads only the outlines of theirs, and a faulty or hostile file is refused whole, with its code
and the place of the fault."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.testkit import Fleet, new_commune, user_client

pytestmark = pytest.mark.e2e

API = "/api/v1"


def square(west: float, south: float, size: float = 0.01) -> list[list[list[float]]]:
    """A square polygon's coordinates (one closed ring)."""
    east, north = round(west + size, 6), round(south + size, 6)
    return [[[west, south], [east, south], [east, north], [west, north], [west, south]]]


def outline(coordinates: Any, **properties: Any) -> dict[str, Any]:
    geometry = {"type": "Polygon", "coordinates": coordinates}
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def geojson(*features: dict[str, Any]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


def put(client: httpx.Client, body: bytes) -> httpx.Response:
    return client.put(f"{API}/areas/outlines", content=body, headers={"Content-Type": "application/geo+json"})


def outlined(client: httpx.Client, **query: str) -> dict[str, dict[str, Any]]:
    """The outlines the client can read, by area id."""
    answer = client.get(f"{API}/areas/outlines", params=query)
    answer.raise_for_status()
    assert answer.json()["type"] == "FeatureCollection"
    return {f["properties"]["area_id"]: f for f in answer.json()["features"]}


def test_a_commune_admin_imports_by_id_and_name_and_each_user_reads_only_their_scope(fleet: Fleet) -> None:
    commune, villages = new_commune(fleet, villages=2)
    other_commune, _ = new_commune(fleet, villages=1)
    admin, _ = user_client(fleet, "admin", commune)
    answer = put(admin, geojson(outline(square(105.60, 18.70, 0.04), area_id=commune),
                                outline(square(105.60, 18.70), name="Thôn 0"),
                                outline(square(105.62, 18.72), name="THÔN 1")))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"area_ids": [commune, *villages], "vertices": 15}

    viewer, _ = user_client(fleet, "viewer", commune)
    seen = outlined(viewer)
    assert set(seen) == {commune, *villages}
    village = seen[villages[1]]
    assert village["properties"]["name"] == "Thôn 1" and village["properties"]["parent_id"] == commune
    assert village["geometry"] == {"type": "MultiPolygon", "coordinates": [square(105.62, 18.72)]}
    longitude, latitude = village["properties"]["label"]
    assert 105.62 < longitude < 105.63 and 18.72 < latitude < 18.73, "the name is written inside"
    assert set(outlined(viewer, within=villages[0])) == {villages[0]}

    stranger, _ = user_client(fleet, "viewer", other_commune)
    assert not set(outlined(stranger)) & {commune, *villages}, "another commune's outlines are not shown"
    refused = stranger.get(f"{API}/areas/outlines", params={"within": commune})
    assert refused.status_code == 404 and refused.json()["code"] == "unknown_area"
    assert set(outlined(fleet.http, within=commune)) == {commune, *villages}, "the whole-tree admin sees all"

    tag = viewer.get(f"{API}/areas/outlines").headers["ETag"]
    again = viewer.get(f"{API}/areas/outlines", headers={"If-None-Match": tag})
    assert (again.status_code, again.content) == (304, b""), "a reload on a slow link downloads nothing"

    moved = put(admin, geojson(outline(square(105.64, 18.74), area_id=villages[0])))
    assert moved.status_code == 200, moved.text
    assert outlined(viewer)[villages[0]]["geometry"]["coordinates"] == [square(105.64, 18.74)]
    assert outlined(viewer)[villages[1]]["geometry"]["coordinates"] == [square(105.62, 18.72)], "others kept"
    changed = viewer.get(f"{API}/areas/outlines", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag, "a change is downloaded again"


def test_a_faulty_file_is_refused_whole_with_its_code_and_field(fleet: Fleet) -> None:
    commune, villages = new_commune(fleet, villages=1)
    admin, _ = user_client(fleet, "admin", commune)
    good = outline(square(105.60, 18.70), area_id=villages[0])
    cases = [
        (geojson(good, outline(square(105.6, 18.7), area_id="thon-c")), "outline_unknown_area",
         "features[1].properties.area_id"),
        (geojson(good, outline(square(105.6, 18.7), name="Thôn A")), "outline_unknown_area",
         "features[1].properties.name"),
        (geojson(good, outline([[[105.6, 18.7], [105.7, 18.7], [105.6, 18.7]]], name="Xã Riêng")),
         "outline_bad_ring", "features[1].geometry.coordinates[0]"),
        (geojson(good, outline(square(185.0, 18.7), name="Xã Riêng")), "outline_bad_position",
         "features[1].geometry.coordinates[0][0]"),
        (geojson(good, good), "outline_duplicate_area", "features[1]"),
        (geojson(good)[:-20], "outline_not_json", "file"),
        (b"[" * 200_000 + b"]" * 200_000, "outline_not_json", "file"),
        (geojson(good).replace(b"105.61", b"NaN", 1), "outline_not_json", "file"),
        (json.dumps({"type": "Topology"}).encode(), "outline_not_feature_collection", "type"),
    ]
    for body, code, field in cases:
        answer = put(admin, body)
        refusal = answer.json()
        assert (answer.status_code, refusal.get("code"), refusal.get("field")) == (422, code, field)
    assert villages[0] not in outlined(admin), "nothing of a refused file is stored"

    ambiguous = put(fleet.http, geojson(outline(square(105.6, 18.7), name="Thôn 0")))
    assert ambiguous.json()["code"] == "outline_ambiguous_name", "every test commune has a Thôn 0"
    huge = put(admin, b" " * 5_000_001)
    assert (huge.status_code, huge.json()["code"]) == (413, "outline_too_large")
    assert put(admin, b" " * 10_000_001).status_code == 413, "refused before it is read"
    operator, _ = user_client(fleet, "operator", commune)
    assert put(operator, geojson(good)).status_code == 403


def test_a_cluster_is_registered_with_both_coordinates_or_neither(fleet: Fleet) -> None:
    _, villages = new_commune(fleet, villages=1)
    unsurveyed = fleet.http.post(f"{API}/devices", json={"name": "Cụm loa mới", "area_id": villages[0]})
    assert unsurveyed.status_code == 201, unsurveyed.text
    device = fleet.http.get(f"{API}/devices/{unsurveyed.json()['device']['id']}").json()
    assert (device["latitude"], device["longitude"]) == (None, None)
    half = fleet.http.post(f"{API}/devices", json={"name": "Loa", "area_id": villages[0], "latitude": 18.7})
    refusal = half.json()
    assert (half.status_code, refusal["code"], refusal["field"]) == (422, "position_incomplete", "longitude")


def test_no_area_takes_the_outlines_address(fleet: Fleet) -> None:
    commune, _ = new_commune(fleet, villages=0)
    taken = fleet.http.post(f"{API}/areas", json={"id": "outlines", "name": "Thôn", "level": "village",
                                                  "parent_id": commune})
    assert (taken.status_code, taken.json()["code"], taken.json()["field"]) == (422, "area_id_reserved", "id")
    named = fleet.http.post(f"{API}/areas", json={"name": "Outlines", "level": "village",
                                                  "parent_id": commune})
    assert named.status_code == 201 and named.json()["id"] != "outlines", named.text
    assert fleet.http.get(f"{API}/areas/{named.json()['id']}").json()["name"] == "Outlines"
