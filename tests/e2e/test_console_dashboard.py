"""The dashboard follows the fleet from the event feed: counts, dots and what is on the air change as
clusters play, stop and drop off, without the page reading every cluster again."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from loalang_stack.services import ControllerProcess
from tests.browser import log_in
from tests.testkit import (
    OPERATOR_PASSWORD,
    Fleet,
    new_commune,
    operator_of,
    start_agents,
    upload_media,
    wait_for,
    write_steps_wav,
)

pytestmark = pytest.mark.e2e

API = "/api/v1"
VN = ZoneInfo("Asia/Ho_Chi_Minh")
LEAD_S = 8  # the scheduled bulletin plays this long after it is scheduled
ANNOUNCEMENT = " ".join(["Thông báo của xã về lịch tiêm phòng cho trẻ em vào sáng thứ Bảy."] * 4)


def test_the_dashboard_follows_plays_stops_and_dropouts_from_the_feed(
        fleet: Fleet, controller: ControllerProcess, open_page: Any) -> None:
    commune_id, villages = new_commune(fleet, villages=1)
    agents = start_agents(fleet, villages[0], 2)
    page, _ = open_page()
    device_reads: list[str] = []
    page.on("request", lambda r: device_reads.append(r.url) if "/api/v1/fleet" in r.url else None)
    page.goto(f"{controller.url}/console/")
    log_in(page, operator_of(fleet, commune_id), OPERATOR_PASSWORD)
    count = {state: page.locator(f".count.{state} strong") for state in ("online", "offline", "playing")}
    wait_for(lambda: count["online"].inner_text() == "2", 10.0, what="two clusters online")
    reads_at_start = len(device_reads)
    assert reads_at_start == 1, f"one reading of every cluster: {device_reads}"

    broadcast = fleet.http.post(f"{API}/broadcasts", json={
        "level": "priority", "area_ids": villages, "title": "Lịch tiêm phòng", "text": ANNOUNCEMENT})
    assert broadcast.status_code == 201, broadcast.text
    page.locator("ul.plain li", has_text="Lịch tiêm phòng").first.wait_for(timeout=10_000)  # on the air
    wait_for(lambda: count["playing"].inner_text() == "2", 40.0, what="both clusters playing")
    on_air = page.locator("ul.on-air li")
    assert on_air.count() == 1 and "2 cụm loa ở Thôn 0" in on_air.inner_text(), on_air.all_inner_texts()
    assert page.locator(".feed li", has_text="Bắt đầu phát").count() >= 1, "receipts in words"
    fleet.http.post(f"{API}/broadcasts/{broadcast.json()['id']}/stop").raise_for_status()
    wait_for(lambda: count["playing"].inner_text() == "0", 20.0, what="nothing playing after the stop")
    page.locator("p", has_text="Không có gì đang phát").wait_for(timeout=10_000)

    fleet.agents[0].stop()
    wait_for(lambda: count["offline"].inner_text() == "1", 30.0, what="one cluster offline")
    assert count["online"].inner_text() == "1"
    dropped = page.locator(".map-list li", has_text=agents[0][0])
    assert "Mất kết nối" in (dropped.text_content() or ""), "the list beside the map says so in words"
    assert len(device_reads) == reads_at_start, f"the clusters were read again: {device_reads}"


def test_what_plays_leaves_coming_up_for_on_the_air_where_the_count_agrees_and_villages_have_names(
        fleet: Fleet, controller: ControllerProcess, open_page: Any, tmp_path: Path) -> None:
    commune_id, villages = new_commune(fleet, villages=1)
    start_agents(fleet, villages[0], 1)
    title = f"Bản tin trưa {secrets.token_hex(2)}"
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "trua.wav", [400.0, 500.0, 600.0, 700.0]))
    bulletin = fleet.http.post(f"{API}/bulletins", json={"title": title, "media_sha256": sha,
                                                         "area_id": villages[0]})
    assert bulletin.status_code == 201, bulletin.text
    fleet.http.post(f"{API}/bulletins/{bulletin.json()['id']}/submit").raise_for_status()
    starts = datetime.now(VN).replace(microsecond=0) + timedelta(seconds=LEAD_S)
    scheduled = fleet.http.post(f"{API}/bulletins/{bulletin.json()['id']}/schedules", json={
        "kind": "once", "start_local": starts.strftime("%Y-%m-%dT%H:%M:%S"), "area_ids": villages})
    assert scheduled.status_code == 201, scheduled.text

    page, _ = open_page()
    clusters_reading = HeldRequests(page, "**/api/v1/fleet/overview*")
    page.goto(f"{controller.url}/console/")
    log_in(page, operator_of(fleet, commune_id), OPERATOR_PASSWORD)
    next_box = page.locator("h2:text-is('Sắp phát') + div")
    clusters_reading.wait()
    page.wait_for_timeout(1_000)  # the schedules' answer is in by now; the clusters' is held
    assert villages[0] not in next_box.inner_text(), "an area shown by its id before its name is known"
    clusters_reading.release()
    coming = next_box.locator("li", has_text=title)
    coming.wait_for(timeout=10_000)
    assert "Thôn 0" in coming.inner_text() and villages[0] not in coming.inner_text(), coming.inner_text()
    playing = page.locator(".count.playing strong")
    on_air = page.locator("ul.on-air li")
    wait_for(lambda: playing.inner_text() == "1", LEAD_S + 20.0, what="the bulletin on the air")
    item = on_air.filter(has_text=title)
    assert item.count() == 1 and on_air.count() == 1, on_air.all_inner_texts()
    where = item.inner_text()
    assert "1 cụm loa ở Thôn 0" in where and villages[0] not in where, where
    assert coming.count() == 0, "what plays now is no longer coming up"
    wait_for(lambda: playing.inner_text() == "0", 20.0, what="the bulletin over")
    assert page.locator("h2:text-is('Đang phát sóng') + div").inner_text() == "Không có gì đang phát."



class HeldRequests:
    """Requests matching pattern wait unanswered until release(); later ones then go straight on."""

    def __init__(self, page: Any, pattern: str) -> None:
        self.page, self.routes, self.released = page, list[Any](), False
        page.route(pattern, self._arrived)

    def _arrived(self, route: Any) -> None:
        if self.released:
            route.continue_()
        else:
            self.routes.append(route)

    def wait(self, timeout_s: float = 10.0) -> None:
        """Wait (letting the browser's events in) until a request is held."""
        for _ in range(int(timeout_s * 10)):
            if self.routes:
                return
            self.page.wait_for_timeout(100)
        raise AssertionError("the page never asked")

    def release(self) -> None:
        self.released = True
        for route in self.routes:
            route.continue_()
