"""The web console in a real browser: headless Chromium (Debian's) driving the pages an operator and a
technician use, against the real controller, broker and agents. Every page is also checked by
axe-core (no serious or critical violation) and must log no JavaScript error."""

from __future__ import annotations

import time
from typing import Any

import pytest

from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.browser import accessibility_violations, log_in
from tests.testkit import (
    ADMIN_PASSWORD,
    OPERATOR_PASSWORD,
    Fleet,
    loud_after,
    new_commune,
    operator_of,
    start_agents,
    tone_onset,
    wait_for,
)

pytestmark = pytest.mark.e2e

API = "/api/v1"
def test_an_operator_sees_only_their_commune_and_stops_everything_in_it(
        fleet: Fleet, controller: ControllerProcess, open_page: Any) -> None:
    commune_id, villages = new_commune(fleet, villages=1)
    _, other_villages = new_commune(fleet, villages=1)
    ours = start_agents(fleet, villages[0], 3)
    theirs, their_config = fleet.enrolled_agent(area=other_villages[0])
    fleet.start(their_config)
    username = operator_of(fleet, commune_id)
    broadcast = fleet.http.post(f"{API}/broadcasts", json={
        "level": "priority", "area_ids": villages, "title": "Thông báo thử",
        "text": " ".join(["Thông báo của xã về lịch tiêm phòng cho trẻ em vào sáng thứ Bảy."] * 6)})
    assert broadcast.status_code == 201, broadcast.text

    page, _ = open_page()
    page.goto(f"{controller.url}/console/")
    log_in(page, username, OPERATOR_PASSWORD)
    counts = page.locator(".count.online strong")
    wait_for(lambda: counts.inner_text() == "3", 10.0, what="three clusters online on the dashboard")
    assert page.locator(".leaflet-interactive").count() == 3, "one dot per cluster of the commune"
    page.locator(".feed li", has_text=ours[0][0]).first.wait_for(timeout=10_000)
    wait_for(lambda: fleet.online(theirs), 10.0, what="the other commune's cluster online")
    assert page.locator(".feed li", has_text=theirs).count() == 0, "nothing of another commune in the feed"
    assert accessibility_violations(page) == []

    page.goto(f"{controller.url}/console/#/devices")
    page.locator("table").wait_for()
    listed = page.locator("tbody tr").all_inner_texts()
    assert len(listed) == 3 and all(theirs not in row for row in listed), listed
    assert accessibility_violations(page) == []

    cards = [config_file.load(config).data_dir / "card" for _, config in ours]
    for card in cards:
        wait_for(lambda c=card: loud_after(c, 0), 45.0, what="the bulletin on the card")
    page.goto(f"{controller.url}/console/#/")
    page.get_by_role("button", name="Dừng tất cả").click()
    page.get_by_role("dialog").get_by_role("button", name="Dừng tất cả").click()
    page.locator("#toast", has_text="Đã dừng").wait_for(timeout=10_000)
    stopped_at = time.time()
    time.sleep(3)  # the cards record on: a sound 2 s after the stop would be on them now
    for card in cards:
        assert loud_after(card, stopped_at + 2) is None, "silent within 2 s of the stop"
    assert fleet.http.get(f"{API}/broadcasts/{broadcast.json()['id']}").json()["status"] == "stopped"


def test_the_field_view_fits_a_phone_and_sounds_a_test_tone(
        fleet: Fleet, controller: ControllerProcess, open_page: Any) -> None:
    _, villages = new_commune(fleet, villages=1)
    [(device_id, config)] = start_agents(fleet, villages[0], 1)
    page, _ = open_page(360, 740)
    page.goto(f"{controller.url}/d/{device_id}")
    log_in_field(page)
    page.locator(".facts").wait_for()
    assert page.locator(".badge.online").count() == 1
    width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], f"no horizontal scroll at 360 px: {width}"
    assert accessibility_violations(page) == []

    page.get_by_role("button", name="Phát âm thử").click()
    page.get_by_role("dialog").get_by_role("button", name="Xác nhận").click()
    page.locator("#toast", has_text="Phát âm thử:").wait_for(timeout=15_000)  # the device's reply
    card = config_file.load(config).data_dir / "card"
    assert wait_for(lambda: tone_onset(card, 1000.0), 10.0, what="the test tone on the card")
    audit = fleet.http.get(f"{API}/audit", params={"limit": 20}).json()
    assert any(e["action"] == "device.command" and device_id in e["targets"] for e in audit)


def log_in_field(page: Any) -> None:
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.press("input[name=password]", "Enter")
    page.locator("h1 small").wait_for(timeout=10_000)


def test_the_console_works_with_the_keyboard_alone(controller: ControllerProcess, open_page: Any) -> None:
    page, _ = open_page()
    page.goto(f"{controller.url}/console/")
    page.locator("input[name=username]").wait_for()
    assert accessibility_violations(page) == []
    page.keyboard.type("admin")  # the user name field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type(ADMIN_PASSWORD)
    page.keyboard.press("Enter")
    page.locator("header nav").wait_for(timeout=10_000)
    page.locator(".count.online").wait_for()  # the dashboard is drawn (and has the focus)
    visited = []
    for _ in range(20):  # the page's content has the focus: back through the header to the menu
        page.keyboard.press("Shift+Tab")
        visited.append(page.evaluate("document.activeElement.outerHTML.slice(0, 80)"))
        if page.evaluate("document.activeElement.getAttribute('href')") == "#/devices":
            break
    assert 'href="#/devices"' in visited[-1], visited
    page.keyboard.press("Enter")
    page.locator("h1", has_text="Cụm loa").wait_for()
    page.get_by_role("button", name="English").click()
    page.locator("h1", has_text="Clusters").wait_for()
