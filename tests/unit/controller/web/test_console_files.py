"""The console's files over HTTP: hashed names cached for a year and gzipped, pages asked again
(304 when unchanged), plain names still served."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from controller.web import IMMUTABLE, ConsoleFiles

pytestmark = pytest.mark.unit

APP = Starlette(routes=[Mount("/console", ConsoleFiles())])


def get(path: str, **headers: str) -> httpx.Response:
    """The console's answer to a GET of path (headers with dashes spelt as underscores)."""
    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=APP)
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
            return await client.get(path, headers={k.replace("_", "-"): v for k, v in headers.items()})

    return asyncio.run(ask())


def test_a_hashed_file_is_cached_for_a_year_and_gzipped() -> None:
    console = ConsoleFiles()
    name = console.assets.hashed("vendor/leaflet/leaflet.js")
    answer = get(f"/console/{name}", accept_encoding="gzip")
    assert answer.status_code == 200 and "Leaflet" in answer.text
    assert answer.headers["cache-control"] == IMMUTABLE
    assert answer.headers["content-encoding"] == "gzip"
    assert int(answer.headers["content-length"]) < len(answer.content) / 2
    plain = get(f"/console/{name}", accept_encoding="identity")
    assert "content-encoding" not in plain.headers and plain.content == answer.content


def test_a_page_is_asked_again_and_unchanged_answers_304() -> None:
    page = get("/console/")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
    assert '<script type="importmap">' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in policy
    again = get("/console/", if_none_match=page.headers["etag"])
    assert again.status_code == 304


def test_a_plain_name_is_still_served_and_asked_again() -> None:
    answer = get("/console/js/app.js")
    assert answer.status_code == 200 and "import" in answer.text
    assert answer.headers["cache-control"] == "no-cache"
