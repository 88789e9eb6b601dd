"""Times in the console are the area's wall time, whatever the browser's own zone: in a browser set to
UTC, a commune in Asia/Ho_Chi_Minh sees its library, its bulletins, a cluster's plays, the field view
and the dashboard's feed at Vietnamese time, one moment shown the same on every page, and the header
says which zone that is."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from loalang_stack.services import ControllerProcess
from tests.browser import PageErrors, log_in
from tests.testkit import (
    ADMIN_PASSWORD,
    Fleet,
    new_commune,
    receipts,
    start_agents,
    upload_media,
    wait_for,
    write_steps_wav,
)

pytestmark = pytest.mark.e2e

API = "/api/v1"
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def vietnamese_time(moment: str) -> str:
    """A time of the API (with its offset) as the Vietnamese console writes it, in Vietnam."""
    local = datetime.fromisoformat(moment).astimezone(VN)
    return f"{local:%H:%M} {local.day}/{local.month}/{local:%y}"


def shown_time(row: Any) -> str:
    text: str = row.locator("time").first.inner_text()
    return text


def test_one_moment_reads_the_same_vietnamese_time_on_every_page_of_a_browser_in_utc(
        fleet: Fleet, controller: ControllerProcess, browser: Any, tmp_path: Path) -> None:
    _, villages = new_commune(fleet, villages=1)
    [(device_id, _)] = start_agents(fleet, villages[0], 1)
    title = f"Bản tin giờ {secrets.token_hex(2)}"
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "gio.wav", [500.0, 600.0]))
    created = fleet.http.post(f"{API}/bulletins", json={"title": title, "media_sha256": sha,
                                                        "area_id": villages[0]})
    assert created.status_code == 201, created.text
    bulletin = fleet.http.post(f"{API}/bulletins/{created.json()['id']}/submit").json()
    assert bulletin["status"] == "approved", bulletin

    context = browser.new_context(timezone_id="UTC", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = PageErrors(page)
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "UTC"
    page.goto(f"{controller.url}/console/")
    log_in(page, "admin", ADMIN_PASSWORD)
    zone = page.locator("header .zone")
    assert zone.inner_text() == "Giờ GMT+7" and zone.get_attribute("title") == "Asia/Ho_Chi_Minh"
    aired = fleet.http.post(f"{API}/broadcasts", json={"level": "normal", "bulletin_id": bulletin["id"],
                                                       "device_ids": [device_id]})
    assert aired.status_code == 201, aired.text
    [started] = wait_for(lambda: receipts(fleet, device_id, "started"), 30.0, what="the play started")
    played_at = vietnamese_time(started["occurred_at"])

    in_feed = page.locator(".feed li", has_text=f"{device_id}: Bắt đầu phát").filter(has_text=title)
    in_feed.wait_for(timeout=10_000)
    assert shown_time(in_feed) == played_at, "the dashboard's feed"
    page.goto(f"{controller.url}/console/#/devices/{device_id}")
    aired_list = page.locator("section", has_text="Đã phát gần đây").locator("li", has_text="Bắt đầu phát")
    assert shown_time(aired_list.filter(has_text=title)) == played_at, "the cluster's recent plays"
    page.goto(f"{controller.url}/d/{device_id}")
    field_plays = page.locator("main h2:text-is('Đã phát gần đây') + div li", has_text="Bắt đầu phát")
    assert shown_time(field_plays.filter(has_text=title)) == played_at, "the field view's recent plays"

    media = next(m for m in fleet.http.get(f"{API}/media").json() if m["sha256"] == sha)
    page.goto(f"{controller.url}/console/#/media")
    row = page.locator(f"tr[data-sha256='{sha}']")
    assert row.locator("td[data-label='Lúc']").inner_text() == vietnamese_time(media["created_at"])
    page.goto(f"{controller.url}/console/#/bulletins")
    row = page.locator("tr", has_text=title).first
    assert row.locator("td[data-label='Lúc']").inner_text() == vietnamese_time(bulletin["created_at"])
    context.close()
    assert errors.messages == [], errors.messages
