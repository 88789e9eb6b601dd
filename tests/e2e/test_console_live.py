"""The live page in a real browser relays a station to the chosen village (talking into the
microphone from the same page is tests/e2e/test_live_browser.py)."""

from __future__ import annotations

from typing import Any

import pytest

from loalang_stack.icecast import Icecast
from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.browser import accessibility_violations, log_in
from tests.testkit import ADMIN_PASSWORD, Fleet, loud_after, new_commune, wait_for

pytestmark = pytest.mark.e2e


def test_the_live_page_relays_a_station_and_stops_it(fleet: Fleet, controller: ControllerProcess,
                                                       station: Icecast, open_page: Any) -> None:
    _, villages = new_commune(fleet, villages=1)
    device_id, config = fleet.enrolled_agent(area=villages[0])
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 10.0, what="online")
    page, _ = open_page()
    page.goto(f"{controller.url}/console/#/live")
    log_in(page, "admin", ADMIN_PASSWORD)
    assert accessibility_violations(page) == []
    page.check(f"input[name=area][value={villages[0]}]")
    page.fill("#confirm", ADMIN_PASSWORD)
    page.fill("input[name=url]", station.listen_url("station.mp3"))
    page.get_by_role("button", name="Bắt đầu tiếp sóng").click()
    page.locator("#status.on", has_text="Đang tiếp sóng").wait_for(timeout=10_000)
    card = config_file.load(config).data_dir / "card"
    wait_for(lambda: loud_after(card, 0), 20.0, what="the station on the card")
    page.click("#stop")
    page.locator("#status", has_text="Đã dừng").wait_for(timeout=10_000)
    relays = [b for b in fleet.http.get("/api/v1/broadcasts").json()
              if b["live_kind"] == "relay" and villages[0] in b["area_ids"]]
    assert len(relays) == 1 and relays[0]["status"] == "stopped", relays
