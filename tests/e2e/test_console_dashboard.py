"""The dashboard follows the fleet from the event feed: counts, dots and what is on the air change as
clusters play, stop and drop off, without the page reading every cluster again."""

from __future__ import annotations

from typing import Any

import pytest

from loalang_stack.services import ControllerProcess
from tests.browser import log_in
from tests.testkit import OPERATOR_PASSWORD, Fleet, new_commune, operator_of, start_agents, wait_for

pytestmark = pytest.mark.e2e

API = "/api/v1"
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
