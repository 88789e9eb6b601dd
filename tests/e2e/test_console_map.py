"""The map without tiles: an admin imports the communes' and villages' outlines from a GeoJSON file in
the console, and the dashboard draws them, named, with each cluster's dot inside its village (one
registered without a position too). With a tile server configured, its tiles lie under the outlines."""

from __future__ import annotations

import json
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from loalang_stack.ports import free_port
from loalang_stack.services import ControllerProcess
from tests.browser import accessibility_violations, log_in
from tests.testkit import OPERATOR_PASSWORD, USER_PASSWORD, Fleet, Stack, new_commune, operator_of, own_fleet

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
    unsurveyed = []
    for name in ("Cụm loa chưa đo", "Cụm loa chưa đo 2"):  # two without a position, in one village
        answer = fleet.http.post(f"{API}/devices", json={"name": name, "area_id": villages[0]})
        assert answer.status_code == 201, answer.text
        unsurveyed.append(answer.json()["device"]["id"])
    devices[villages[0]] += unsurveyed
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
    page.locator("path[data-device]").nth(4).wait_for(timeout=10_000)
    first, second = (page.locator(f'path[data-device="{d}"]').bounding_box() for d in unsurveyed)
    assert abs(first["x"] - second["x"]) + abs(first["y"] - second["y"]) >= first["width"], \
        "two clusters without a position are drawn apart, each one seen and clicked"
    for own, other in (villages, villages[::-1]):
        for device in devices[own]:
            assert page.evaluate(INSIDE, [device, own]), f"{device}'s dot lies in its village {own}"
            assert not page.evaluate(INSIDE, [device, other]), f"{device}'s dot is not in {other}"


def green_tile() -> bytes:
    """A 256 by 256 PNG of one green, as a tile server sends."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x22\xaa\x44" * 256 for _ in range(256))
    header = struct.pack(">IIBBBBB", 256, 256, 8, 2, 0, 0, 0)
    image = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + image


@contextmanager
def tile_server() -> Iterator[tuple[str, list[str]]]:
    """A local tile server answering every tile with a green one; yields its URL and the paths asked."""
    asked: list[str] = []
    tile = green_tile()

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(tile)))
            self.end_headers()
            self.wfile.write(tile)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Tiles)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", asked
    finally:
        server.shutdown()
        server.server_close()


def test_a_tile_servers_tiles_lie_under_the_outlines(stack: Stack, open_page: Any, tmp_path: Path) -> None:
    with tile_server() as (tiles, asked), own_fleet(
            stack, tmp_path, LOALANG_MAP_TILE_URL=f"{tiles}/{{z}}/{{x}}/{{y}}.png",
            LOALANG_MAP_TILE_ATTRIBUTION="Bản đồ thử") as fleet:
        commune, villages = new_commune(fleet, villages=2)
        spans = [(WEST, EAST), (WEST, MIDDLE), (MIDDLE, EAST)]
        features = [{"type": "Feature", "properties": {"area_id": area}, "geometry": rectangle(west, east)}
                    for area, (west, east) in zip([commune, *villages], spans, strict=True)]
        fleet.http.put(f"{API}/areas/outlines", json={"type": "FeatureCollection", "features": features}
                       ).raise_for_status()
        page, _ = open_page()
        page.goto(f"{fleet.controller.url}/console/")
        log_in(page, operator_of(fleet, commune), OPERATOR_PASSWORD)
        page.locator(".map path.area-outline").nth(2).wait_for(timeout=10_000)
        page.locator(".map img.leaflet-tile-loaded").first.wait_for(timeout=10_000)
        assert asked, "the tiles came from the configured server"
        assert page.locator(".map .leaflet-control-attribution", has_text="Bản đồ thử").is_visible()
        tile_layer, outline_layer = (page.evaluate(
            f"getComputedStyle(document.querySelector('.map .leaflet-{pane}-pane')).zIndex")
            for pane in ("tile", "outlines"))
        assert int(outline_layer) > int(tile_layer), "the outlines are drawn over the tiles"
        page.close()  # before its controller stops: the cut event stream is not the page's fault


MARKUP_NAME = '<img src="/x" id="markup-from-name" onerror="1">Loa chợ <b>mới</b>'


def test_a_clusters_name_is_shown_on_the_map_as_text_never_as_markup(
        fleet: Fleet, controller: ControllerProcess, open_page: Any) -> None:
    commune, villages = new_commune(fleet, villages=1)
    answer = fleet.http.post(f"{API}/devices", json={"name": MARKUP_NAME, "area_id": villages[0],
                                                     "latitude": 19.23, "longitude": 106.23})
    assert answer.status_code == 201, answer.text
    device_id = answer.json()["device"]["id"]

    page, _ = open_page()
    page.goto(f"{controller.url}/console/")
    log_in(page, operator_of(fleet, commune), OPERATOR_PASSWORD)
    dot = page.locator(f'path[data-device="{device_id}"]')
    dot.wait_for(timeout=10_000)
    dot.hover(force=True)
    tooltip = page.locator(".leaflet-tooltip", has_text="Loa chợ")
    tooltip.wait_for(timeout=5_000)
    assert MARKUP_NAME in tooltip.inner_text(), "the name is written out as it was typed"
    assert page.locator("#markup-from-name").count() == 0, "the name became an element"
    assert tooltip.locator("b").count() == 0
