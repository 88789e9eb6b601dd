"""The console on a slow link, in a real browser: its files compressed, named by their content and
kept by the browser for a year, so that a reload asks only for the page and the API; and a header
that leaves a phone's screen to the page."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from loalang_stack.services import ControllerProcess
from tests.browser import NetworkLog, accessibility_violations, log_in, tab_to
from tests.testkit import ADMIN_PASSWORD, Fleet, wait_for

pytestmark = pytest.mark.e2e

SLOW_LINK_LATENCY_MS = 300  # long beside the time a reloaded page takes to run its cached modules

API = "/api/v1"
HASHED_NAME = re.compile(r"\.[0-9a-f]{12}\.[a-z0-9]+$")
IMMUTABLE = "public, max-age=31536000, immutable"
TEXT_TYPES = ("text/", "javascript", "json", "svg")
COMPRESSED = ("gzip", "br")
PHONE_WIDTH_PX = 360
PHONE_HEADER_MAX_PX = 90


def dashboard_shown(page: Any) -> None:
    """Wait until the dashboard shows its data (the feed's first line is drawn last)."""
    page.locator(".count.online strong").wait_for(timeout=10_000)
    page.locator(".feed li").first.wait_for(timeout=10_000)


def on_screen(element: Any) -> bool:
    """Whether the element is wholly within a phone's 360 px width."""
    box = element.bounding_box()
    return bool(box["x"] >= 0 and box["x"] + box["width"] <= PHONE_WIDTH_PX)


def test_the_dashboard_loads_compressed_hashed_files_and_a_reload_asks_only_for_the_page_and_the_api(
        fleet: Fleet, controller: ControllerProcess, open_page: Any) -> None:
    fleet.register(area="thon-a")
    page, _ = open_page()
    answers: list[Any] = []
    page.on("response", lambda answer: answers.append(answer))
    page.goto(f"{controller.url}/console/")
    log_in(page, "admin", ADMIN_PASSWORD)
    dashboard_shown(page)

    [document] = [a for a in answers if a.request.resource_type == "document"]
    assert document.all_headers()["cache-control"] == "no-cache", "the page is asked again each time"
    assert document.all_headers().get("content-encoding") in COMPRESSED
    files = [a for a in answers if urlsplit(a.url).path.startswith("/console/") and a is not document]
    names = {urlsplit(a.url).path.rsplit("/", 1)[-1].split(".")[0] for a in files}
    assert {"leaflet", "app", "api", "dashboard", "map"} <= names, names
    for answer in files:
        headers = answer.all_headers()
        assert HASHED_NAME.search(urlsplit(answer.url).path), f"{answer.url}: not named by its content"
        assert headers["cache-control"] == IMMUTABLE, f"{answer.url}: {headers['cache-control']}"
        if headers["content-type"].startswith(TEXT_TYPES) or "javascript" in headers["content-type"]:
            assert headers.get("content-encoding") in COMPRESSED, f"{answer.url} is not compressed"

    network = NetworkLog(page.context, page)
    page.reload()
    dashboard_shown(page)
    asked = [urlsplit(url).path for url in network.to_server()]
    assert "/console/" in asked, "the page itself is asked again"
    assert [path for path in asked if path != "/console/" and not path.startswith(f"{API}/")] == [], asked

    # on a slow link a reload asks for the dashboard's data beside the session, not after its answer
    network.cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": SLOW_LINK_LATENCY_MS, "downloadThroughput": -1, "uploadThroughput": -1})
    network.reset()
    page.reload()
    dashboard_shown(page)
    events = [(kind, urlsplit(url).path) for kind, url in network.order]
    assert ("sent", f"{API}/fleet/overview") in events, events
    data_asked = events.index(("sent", f"{API}/fleet/overview"))
    assert data_asked < events.index(("answered", f"{API}/auth/session")), events


def test_the_plain_file_names_still_work_and_event_streams_are_never_compressed(
        fleet: Fleet, controller: ControllerProcess) -> None:
    plain = httpx.get(f"{controller.url}/console/js/app.js")
    assert plain.status_code == 200 and "import" in plain.text
    assert plain.headers["cache-control"] == "no-cache"
    schema = fleet.http.get("/openapi.json", headers={"accept-encoding": "gzip"})
    assert schema.headers.get("content-encoding") == "gzip", "API answers are compressed"
    with fleet.http.stream("GET", f"{API}/feed", headers={"accept-encoding": "gzip"}) as feed:
        assert feed.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in feed.headers, "compressing would hold events back"


def test_the_header_on_a_phone_is_one_short_row_whose_every_entry_the_keyboard_reaches(
        controller: ControllerProcess, open_page: Any) -> None:
    page, _ = open_page(PHONE_WIDTH_PX, 740)
    page.goto(f"{controller.url}/console/#/reports")
    log_in(page, "admin", ADMIN_PASSWORD)
    page.locator("main h1").wait_for()
    assert on_screen(page.locator("header nav a[aria-current=page]")), "the page's own entry is in sight"
    height = page.locator("header#menu").bounding_box()["height"]
    assert height < PHONE_HEADER_MAX_PX, f"the header takes {height} px of 740"
    width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways: {width}"
    assert accessibility_violations(page) == []

    wait_for(lambda: page.evaluate("() => document.activeElement.id") == "view", 10.0,
             what="the page drawn, its content focused")
    tab_to(page, "header nav a", text="Quản trị")  # the menu's last entry, beyond the screen's edge
    assert on_screen(page.locator("header nav a", has_text="Quản trị")), "the focused entry is in sight"
    page.keyboard.press("Enter")
    page.locator("main h1", has_text="Quản trị").wait_for()
