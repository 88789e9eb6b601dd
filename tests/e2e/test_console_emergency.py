"""The emergency page in a real browser: the warning's reach on the map, the password asked again,
delivery followed live, and the warning heard on the clusters."""

from __future__ import annotations

from typing import Any

import pytest

from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.browser import accessibility_violations, log_in
from tests.console_words import english_in
from tests.testkit import ADMIN_PASSWORD, Fleet, loud_after, new_commune, wait_for

pytestmark = pytest.mark.e2e

API = "/api/v1"


def test_an_emergency_is_confirmed_with_the_password_and_followed_to_the_clusters(
        fleet: Fleet, controller: ControllerProcess, open_page: Any) -> None:
    _, villages = new_commune(fleet, villages=1)
    agents = [fleet.enrolled_agent(area=villages[0]) for _ in range(2)]
    for device_id, config in agents:
        fleet.start(config)
        wait_for(lambda d=device_id: fleet.online(d), 10.0, what="online")
    page, errors = open_page()
    errors.allow(403)  # the wrong password below
    page.goto(f"{controller.url}/console/#/emergency")
    log_in(page, "admin", ADMIN_PASSWORD)
    # long enough to be still on the air when it is stopped below (a finished warning cannot be)
    warning = " ".join(["Cảnh báo: nước sông đang lên nhanh, bà con lên chỗ cao."] * 4)
    page.locator("textarea[name=text]").fill(warning)
    page.check(f"input[name=area][value={villages[0]}]")
    page.locator(".reach", has_text="2").wait_for(timeout=10_000)  # the reach: two clusters
    assert page.locator(".leaflet-interactive").count() == 2, "the reach on the map"
    assert accessibility_violations(page) == []

    page.get_by_role("button", name="Phát cảnh báo…").click()
    dialog = page.get_by_role("dialog")
    assert "2 cụm loa ở Thôn 0?" in dialog.inner_text(), "the village by its name, never its id"
    secret = dialog.locator("input[name=confirm_password]")
    secret.fill("not the password")
    dialog.get_by_role("button", name="Phát cảnh báo…").click()
    # a wrong password airs nothing, is said next to the field, and the dialog stays for another try
    dialog.locator("input[name=confirm_password][aria-invalid=true]").wait_for(timeout=10_000)
    said = dialog.locator(f"#{secret.get_attribute('aria-describedby')}").inner_text().strip()
    assert said == "Mật khẩu xác nhận không đúng." and english_in(said) == []
    assert page.locator("#toast.error").count() == 0, "no error bar left to cover the stop button"
    assert accessibility_violations(page) == []
    secret.fill(ADMIN_PASSWORD)
    dialog.get_by_role("button", name="Phát cảnh báo…").click()
    dialog.wait_for(state="detached", timeout=10_000)

    board = page.locator(".delivery")
    for device_id, _ in agents:
        board.locator(f"tr[data-device={device_id}] .delivery-state.playing, "
                      f"tr[data-device={device_id}] .delivery-state.completed").wait_for(timeout=30_000)
    for _, config in agents:  # "playing" is said as the audio is queued, a moment before it sounds
        card = config_file.load(config).data_dir / "card"
        wait_for(lambda c=card: loud_after(c, 0), 10.0, what="the warning on the card")
    assert accessibility_violations(page) == []
    assert page.locator("#toast.error").count() == 0, "no error bar over the stop button while it plays"
    page.get_by_role("button", name="Dừng cảnh báo").click()
    page.get_by_role("dialog").get_by_role("button", name="Dừng cảnh báo").click()
    page.locator("#toast", has_text="Đã dừng").wait_for(timeout=10_000)
    warnings = [b for b in fleet.http.get(f"{API}/broadcasts").json() if b["level"] == "emergency"
                and villages[0] in b["area_ids"]]
    assert len(warnings) == 1 and warnings[0]["status"] == "stopped", warnings
