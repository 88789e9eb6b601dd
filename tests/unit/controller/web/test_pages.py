"""The console's pages as served: hashed URLs, an import map the CSP allows, module preloads."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest

from controller.web.assets import build_assets
from controller.web.pages import render_pages

pytestmark = pytest.mark.unit

PAGE = """<!doctype html>
<html>
<head>
  <link rel="stylesheet" href="app.css">
  <link rel="modulepreload" href="js/views/first.js">
</head>
<body>
  <a href="/console/#/live">live</a>
  <script src="/console/vendor/lib.js"></script>
  <script type="module" src="js/app.js"></script>
</body>
</html>
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    files = {"index.html": PAGE, "app.css": "body {}", "vendor/lib.js": "var lib;",
             "js/app.js": 'import { h } from "./dom.js";', "js/dom.js": "export const h = 1;",
             "js/views/first.js": 'import { h } from "../dom.js";', "js/views/other.js": "export {};"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_a_page_names_hashed_files_and_maps_every_module(folder: Path) -> None:
    assets = build_assets(folder)
    html = render_pages(folder, assets)["index.html"].html.body.decode()
    for name in ("app.css", "vendor/lib.js", "js/app.js"):
        assert f'"/console/{assets.hashed(name)}"' in html, name
    assert 'href="app.css"' not in html and 'src="js/app.js"' not in html
    assert 'href="/console/#/live"' in html
    mapping = json.loads(re.findall(r'<script type="importmap">(.*?)</script>', html)[0])["imports"]
    assert mapping["/console/js/views/other.js"] == f"/console/{assets.hashed('js/views/other.js')}"
    assert html.index("importmap") < html.index("modulepreload") < html.index("</head>")


def test_the_modules_a_page_starts_with_are_preloaded_once(folder: Path) -> None:
    assets = build_assets(folder)
    html = render_pages(folder, assets)["index.html"].html.body.decode()
    preloaded = re.findall(r'<link rel="modulepreload" href="/console/([^"]+)">', html)
    expected = [assets.hashed(name) for name in ("js/views/first.js", "js/dom.js", "js/app.js")]
    assert sorted(preloaded) == sorted(expected)
    assert assets.hashed("js/views/other.js") not in preloaded


def test_the_import_map_is_allowed_by_its_hash(folder: Path) -> None:
    page = render_pages(folder, build_assets(folder))["index.html"]
    [mapping] = re.findall(r'<script type="importmap">(.*?)</script>', page.html.body.decode())
    digest = base64.b64encode(hashlib.sha256(mapping.encode()).digest()).decode()
    assert page.script_hash == f"'sha256-{digest}'"
