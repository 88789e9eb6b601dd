"""The flows that air audio, done with the keyboard alone (Tab, arrows, Space, Enter), and the
console's pages on a 360 px phone: nothing wider than the screen."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from loalang_protocol.messages import SLUG_MAX_LENGTH
from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.browser import accessibility_violations, keyboard_log_in, log_in, tab_to
from tests.testkit import (
    ADMIN_PASSWORD,
    Fleet,
    loud_after,
    new_commune,
    quiet_free_hour,
    start_agents,
    upload_media,
    wait_for,
    write_steps_wav,
)

pytestmark = pytest.mark.e2e

API = "/api/v1"


def delivered(page: Any, device_id: str, states: str = "completed") -> None:
    """Wait until the delivery board shows the device in one of the states (space-separated)."""
    selector = ", ".join(f".delivery tr[data-device={device_id}] .delivery-state.{state}"
                         for state in states.split())
    page.locator(selector).first.wait_for(timeout=30_000)


def one_cluster_and_a_page(fleet: Fleet, controller: ControllerProcess, open_page: Any,
                           route: str) -> tuple[Any, str, str, Path]:
    """A village with one running cluster, and the console's page at route, logged in by keyboard."""
    _, villages = new_commune(fleet, villages=1)
    [(device_id, config)] = start_agents(fleet, villages[0], 1)
    page, _ = open_page()
    page.goto(f"{controller.url}/console/#/{route}")
    keyboard_log_in(page, "admin", ADMIN_PASSWORD)
    return page, villages[0], device_id, config


def words_to_village(page: Any, words: str, village: str, send: str) -> None:
    """By keyboard: type the words to speak, tick the village (one cluster), press the send button
    and wait for the confirmation dialog."""
    tab_to(page, "textarea[name=text]")
    page.keyboard.type(words)
    tab_to(page, f"input[name=area][value={village}]")
    page.keyboard.press("Space")
    page.locator(".reach", has_text="1").wait_for(timeout=5_000)
    tab_to(page, "button[type=submit]", text=send)
    page.keyboard.press("Enter")
    page.get_by_role("dialog").wait_for()


def test_a_broadcast_is_chosen_confirmed_and_followed_with_the_keyboard(
        fleet: Fleet, controller: ControllerProcess, open_page: Any) -> None:
    page, village, device_id, config = one_cluster_and_a_page(fleet, controller, open_page, "broadcast")
    page.locator(".broadcast-form").wait_for()

    tab_to(page, "input[name=source]:checked")
    for _ in range(3):  # the arrows move through the sources
        if page.locator("input[name=source][value=text]").is_checked():
            break
        page.keyboard.press("ArrowDown")
    assert page.locator("input[name=source][value=text]").is_checked()
    words_to_village(page, "Bà con chú ý: chiều nay cắt điện từ hai giờ đến bốn giờ.", village, "Phát ngay…")
    page.keyboard.press("Enter")  # the dialog's confirm button has the focus

    delivered(page, device_id)  # "playing" is said as the audio is queued, a moment before it sounds
    card = config_file.load(config).data_dir / "card"
    wait_for(lambda: loud_after(card, 0), 10.0, what="the broadcast on the card")
    assert page.locator("#toast.error").count() == 0


def test_an_emergency_is_confirmed_with_the_password_and_stopped_with_the_keyboard(
        fleet: Fleet, controller: ControllerProcess, open_page: Any) -> None:
    page, village, device_id, config = one_cluster_and_a_page(fleet, controller, open_page, "emergency")
    page.locator("form.emergency").wait_for()

    # long enough to be still on the air when it is stopped (a finished warning cannot be)
    warning = " ".join(["Cảnh báo: lũ đang về, bà con di chuyển lên chỗ cao ngay."] * 4)
    words_to_village(page, warning, village, "Phát cảnh báo…")
    page.keyboard.type(ADMIN_PASSWORD)  # the password field has the focus
    page.keyboard.press("Enter")  # and Enter confirms

    delivered(page, device_id, "playing completed")
    card = config_file.load(config).data_dir / "card"
    # "playing" is reported as the warning starts: its first loud period reaches the card a moment later
    wait_for(lambda: loud_after(card, 0), 10.0, what="the warning on the card")
    tab_to(page, "button", text="Dừng cảnh báo")
    page.keyboard.press("Enter")
    page.get_by_role("dialog").wait_for()
    page.keyboard.press("Enter")
    page.locator("#toast", has_text="Đã dừng").wait_for(timeout=10_000)
    warnings = [b for b in fleet.http.get(f"{API}/broadcasts").json()
                if b["level"] == "emergency" and village in b["area_ids"]]
    assert [w["status"] for w in warnings] == ["stopped"]


PHONE_PAGES = ["", "devices", "device", "media", "bulletins", "schedule", "broadcast", "live", "emergency",
               "reports", "admin"]


@pytest.mark.parametrize("page_name", PHONE_PAGES)
def test_each_page_fits_a_phone(controller: ControllerProcess, open_page: Any,
                                phone_session: dict[str, Any], page_name: str) -> None:
    page, _ = open_page(360, 740)
    page.context.add_cookies(phone_session["cookies"])
    route = f"devices/{phone_session['device_id']}" if page_name == "device" else page_name
    page.goto(f"{controller.url}/console/#/{route}")
    page.locator("main h1").wait_for(timeout=10_000)
    page.wait_for_load_state("networkidle")
    width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    wide = page.evaluate("""() => [...document.querySelectorAll('main *')]
        .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
                       && !(e.parentElement && e.parentElement.closest('.leaflet-container')))
        .slice(0, 3).map((e) => e.tagName + '.' + e.className)""")
    assert wide == [], f"#{route}: wider than the screen: {wide}"
    assert width[0] <= width[1], f"#{route} scrolls sideways at 360 px: {width}"


@pytest.fixture(scope="module")
def phone_session(controller: ControllerProcess, browser: Any, tmp_path_factory: pytest.TempPathFactory
                  ) -> dict[str, Any]:
    """A logged-in console session (its cookies) and a device to show, shared by the phone checks."""
    fleet = Fleet(controller, tmp_path_factory.mktemp("phone"))
    fleet.ensure_areas()
    # the longest names and ids there may be: they must wrap, not widen the page
    long_id = (f"thon-{secrets.token_hex(3)}-" + "dong-bang-song-hong-" * 3)[:SLUG_MAX_LENGTH]
    long_name = "Thôn" + "ĐồngBằngSôngHồng" * 12  # 196 characters and nowhere to break
    fleet.http.post(f"{API}/areas", json={"id": long_id, "level": "village", "parent_id": "xa-mot",
                                          "name": long_name}).raise_for_status()
    device_id = fleet.register(area=long_id, name="Cụm loa " + "nhà-văn-hoá-thôn-" * 5)[0]
    # a schedule, so that its page shows its table (with the long names in it)
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path_factory.mktemp("tin") / "tin.wav", [500.0]))
    bulletin = fleet.http.post(f"{API}/bulletins", json={
        "title": "Tin " + "ĐồngBằng" * 12, "media_sha256": sha, "area_id": long_id}).json()
    fleet.http.post(f"{API}/bulletins/{bulletin['id']}/submit").raise_for_status()
    fleet.http.post(f"{API}/bulletins/{bulletin['id']}/schedules", json={
        "kind": "daily", "start_local": f"2030-01-01T{quiet_free_hour():02d}:00", "area_ids": [long_id]}
                    ).raise_for_status()
    context = browser.new_context(viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        page.goto(f"{controller.url}/console/")
        log_in(page, "admin", ADMIN_PASSWORD)
        return {"cookies": context.cookies(), "device_id": device_id}
    finally:
        context.close()
        fleet.close()


def test_the_phone_pages_pass_axe(controller: ControllerProcess, open_page: Any,
                                  phone_session: dict[str, Any]) -> None:
    page, _ = open_page(360, 740)
    page.context.add_cookies(phone_session["cookies"])
    page.goto(f"{controller.url}/console/#/")
    page.locator(".count.online").wait_for(timeout=10_000)
    assert accessibility_violations(page) == []
