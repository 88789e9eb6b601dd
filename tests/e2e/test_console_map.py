"""The map without tiles: an admin imports the communes' and villages' outlines from a GeoJSON file in
the console, and the dashboard draws them, named, with each cluster's dot inside its village (one
registered without a position too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loalang_stack.services import ControllerProcess
from tests.browser import accessibility_violations, log_in
from tests.testkit import OPERATOR_PASSWORD, USER_PASSWORD, Fleet, new_commune, operator_of

pytestmark = pytest.mark.e2e

API = "/api/v1"
# A commune of two villages side by side, away from the other tests' areas (longitude, latitude).
WEST, EAST, MIDDLE, SOUTH, NORTH = 106.20, 106.24, 106.22, 19.20, 19.24
VILLAGE_DEVICES = [[(19.232, 106.205)], [(19.23, 106.23), (19.205, 106.235)]]  # (latitude, longitude)

INSIDE = """([dot, outline]) => {
  const box = document.querySelector(`path[data-device="${dot}"]`).getBoundingClientRect();
  const shape = document.querySelector(`path[data-area="${outline}"]`);
  const point = new DOMPoint(box.x + box.width / 2, box.y + box.height / 2)
    .matrixTransform(shape.getScreenCTM().inverse());
  return shape.isPointInFill(point);
}"""


def rectangle(west: float, east: float) -> dict[str, Any]:
    ring = [[west, SOUTH], [east, SOUTH], [east, NORTH], [west, NORTH], [west, SOUTH]]
    return {"type": "Polygon", "coordinates": [ring]}


def outline_file(folder: Path, commune: str, villages: list[str]) -> Path:
    """The commune's outline by id, its villages' by name (as a province's survey office would send)."""
    features = [{"type": "Feature", "properties": {"area_id": commune}, "geometry": rectangle(WEST, EAST)},
                {"type": "Feature", "properties": {"name": "Thôn 0"}, "geometry": rectangle(WEST, MIDDLE)},
                {"type": "Feature", "properties": {"name": "Thôn 1"}, "geometry": rectangle(MIDDLE, EAST)}]
    path = folder / "ranh-gioi.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False))
    return path


def test_imported_outlines_are_drawn_named_with_each_cluster_inside_its_village(
        fleet: Fleet, controller: ControllerProcess, open_page: Any, tmp_path: Path) -> None:
    commune, villages = new_commune(fleet, villages=2)
    devices = {village: [fleet.register(area=village, position=at)[0] for at in positions]
               for village, positions in zip(villages, VILLAGE_DEVICES, strict=True)}
    unsurveyed = fleet.http.post(f"{API}/devices", json={"name": "Cụm loa chưa đo", "area_id": villages[0]})
    assert unsurveyed.status_code == 201, unsurveyed.text
    devices[villages[0]].append(unsurveyed.json()["device"]["id"])
    admin = f"quantri-{commune}"[:40]
    fleet.http.post(f"{API}/users", json={"username": admin, "password": USER_PASSWORD, "role": "admin",
                                          "area_id": commune}).raise_for_status()

    page, errors = open_page()
    page.goto(f"{controller.url}/console/#/admin/areas")
    log_in(page, admin, USER_PASSWORD)
    errors.allow(422)
    wrong = tmp_path / "sai.geojson"
    wrong.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"area_id": "thon-c"}, "geometry": rectangle(WEST, EAST)}]}))
    page.set_input_files("input[name=outlines]", str(wrong))
    page.get_by_role("button", name="Nhập ranh giới").click()
    problem = page.locator("#outlines-problem")
    problem.get_by_text("Không có khu vực nào như vậy trong phạm vi của bạn").wait_for(timeout=10_000)
    assert "features[0].properties.area_id" in problem.inner_text(), "where in the file"
    page.set_input_files("input[name=outlines]", str(outline_file(tmp_path, commune, villages)))
    page.get_by_role("button", name="Nhập ranh giới").click()
    page.locator("#toast", has_text="Đã nhập ranh giới của 3 khu vực").wait_for(timeout=10_000)
    assert problem.inner_text() == ""
    assert accessibility_violations(page) == []

    page, _ = open_page()
    page.goto(f"{controller.url}/console/")
    log_in(page, operator_of(fleet, commune), OPERATOR_PASSWORD)
    page.locator(".map path.area-outline").nth(2).wait_for(timeout=10_000)
    assert page.locator(".map .leaflet-tile").count() == 0, "no tile server configured"
    for name in ("Xã Riêng", "Thôn 0", "Thôn 1"):
        assert page.locator(".map .area-label", has_text=name).is_visible(), f"{name} is written on the map"
    map_box = page.locator(".map").bounding_box()
    for village in villages:
        shape = page.locator(f'path[data-area="{village}"]').bounding_box()
        assert map_box["x"] <= shape["x"] and shape["x"] + shape["width"] <= map_box["x"] + map_box["width"]
        assert map_box["y"] <= shape["y"] and shape["y"] + shape["height"] <= map_box["y"] + map_box["height"]
        assert shape["width"] > map_box["width"] / 5, "the view is fitted to the outlines"
    page.locator("path[data-device]").nth(3).wait_for(timeout=10_000)
    for own, other in (villages, villages[::-1]):
        for device in devices[own]:
            assert page.evaluate(INSIDE, [device, own]), f"{device}'s dot lies in its village {own}"
            assert not page.evaluate(INSIDE, [device, other]), f"{device}'s dot is not in {other}"
