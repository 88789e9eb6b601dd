"""The console's files as served: hashed names that follow the content, stylesheets naming hashed
images, gzip for text only, and the modules a module imports."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from controller.web.assets import build_assets

pytestmark = pytest.mark.unit


def console(folder: Path, files: dict[str, bytes]) -> Path:
    for name, body in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(body)
    return folder


def test_a_changed_file_gets_a_new_name_and_an_unchanged_one_keeps_its_own(tmp_path: Path) -> None:
    before = build_assets(console(tmp_path / "a", {"js/app.js": b"let a = 1;", "js/dom.js": b"let d;"}))
    after = build_assets(console(tmp_path / "b", {"js/app.js": b"let a = 2;", "js/dom.js": b"let d;"}))
    assert before.hashed("js/app.js") != after.hashed("js/app.js")
    assert before.hashed("js/dom.js") == after.hashed("js/dom.js")
    name = before.hashed("js/app.js")
    assert name is not None and name.startswith("js/app.") and name.endswith(".js")
    assert before.by_hashed_name[name].body == b"let a = 1;"


def test_a_stylesheet_names_its_images_by_their_hashed_names(tmp_path: Path) -> None:
    assets = build_assets(console(tmp_path, {
        "vendor/map.css": b".a { background: url(images/layers.png); } .b { behavior: url(#default#VML); }"
                          b" .leaflet-default-icon-path { background-image: url(images/marker-icon.png); }",
        "vendor/images/layers.png": b"\x89PNG layers", "vendor/images/marker-icon.png": b"\x89PNG icon"}))
    css_name = assets.hashed("vendor/map.css")
    assert css_name is not None
    css = assets.by_hashed_name[css_name].body.decode()
    layers = assets.hashed("vendor/images/layers.png")
    assert layers is not None and f"url({layers.removeprefix('vendor/')})" in css
    assert "url(#default#VML)" in css
    assert "url(images/marker-icon.png)" in css, "Leaflet reads its icons' folder from this plain name"


def test_text_is_gzipped_and_images_are_not(tmp_path: Path) -> None:
    script = b"export const words = '" + b"xin chao " * 200 + b"';"
    assets = build_assets(console(tmp_path, {"js/words.js": script, "logo.png": b"\x89PNG" + bytes(500)}))
    words = assets.by_hashed_name[assets.hashed("js/words.js") or ""]
    assert words.media_type.startswith("application/javascript")
    assert words.gzipped is not None and gzip.decompress(words.gzipped) == script
    assert assets.by_hashed_name[assets.hashed("logo.png") or ""].gzipped is None


def test_area_outlines_are_served_as_compressed_geojson(tmp_path: Path) -> None:
    outline = b'{"type": "FeatureCollection", "features": [' + b'{"type": "Feature"},' * 50 + b"{}]}"
    assets = build_assets(console(tmp_path, {"maps/communes.geojson": outline}))
    communes = assets.by_hashed_name[assets.hashed("maps/communes.geojson") or ""]
    assert communes.media_type == "application/geo+json; charset=utf-8"
    assert communes.gzipped is not None


def test_a_module_graph_follows_static_imports_only(tmp_path: Path) -> None:
    assets = build_assets(console(tmp_path, {
        "js/app.js": b'import { a } from "./api.js";\nimport {\n  h,\n} from "./dom.js";\n'
                     b'const page = () => import("./views/page.js");',
        "js/api.js": b'import { t } from "./i18n.js"; export const a = 1;',
        "js/dom.js": b'import { a } from "./api.js"; export const h = 1;',  # a shared import, once
        "js/i18n.js": b"export const t = 1;", "js/views/page.js": b'import { h } from "../dom.js";'}))
    assert sorted(assets.module_graph("js/app.js")) == ["js/api.js", "js/app.js", "js/dom.js", "js/i18n.js"]
    assert sorted(assets.module_graph("js/views/page.js")) == [
        "js/api.js", "js/dom.js", "js/i18n.js", "js/views/page.js"]
