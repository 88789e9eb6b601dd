"""The schedule and broadcast-now pages in a real browser: a bulletin scheduled through the form (quiet
hours refused first, with the API's reason shown, then overridden), seen on the week calendar and in
the day's detail with the override marked, edited (a new schedule replaces the old) and stopped; and
recordings broadcast now to a village through the area tree, one followed on the delivery board until
every cluster has completed it, one stopped while it plays."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from loalang_stack.services import ControllerProcess
from tests.browser import accessibility_violations, log_in
from tests.console_words import english_in
from tests.testkit import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    Fleet,
    new_commune,
    quiet_hours_away_from_now,
    upload_media,
    wait_for,
    write_steps_wav,
)

pytestmark = pytest.mark.e2e

API = "/api/v1"
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def approved_bulletin(fleet: Fleet, tmp_path: Path, area_id: str, title: str) -> str:
    """A 2 s bulletin of area_id, approved on submit (the area needs no approval); returns its id."""
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "tin.wav", [440.0, 660.0]))
    created = fleet.http.post(f"{API}/bulletins",
                              json={"title": title, "media_sha256": sha, "area_id": area_id})
    assert created.status_code == 201, created.text
    submitted = fleet.http.post(f"{API}/bulletins/{created.json()['id']}/submit").json()
    assert submitted["status"] == "approved", submitted
    return str(submitted["id"])


def schedules_of(fleet: Fleet, bulletin_id: str) -> list[dict[str, Any]]:
    return [s for s in fleet.http.get(f"{API}/schedules").json() if s["bulletin_id"] == bulletin_id]


def confirm(page: Any, expect: str) -> None:
    """Answer the confirmation dialog, checking that it says what will happen."""
    dialog = page.get_by_role("dialog")
    dialog.wait_for(timeout=5_000)
    assert expect in dialog.inner_text(), dialog.inner_text()
    dialog.locator("button[value=ok]").click()


def test_a_bulletin_is_scheduled_seen_on_the_week_edited_and_stopped(
        fleet: Fleet, controller: ControllerProcess, open_page: Any, tmp_path: Path) -> None:
    quiet = quiet_hours_away_from_now()
    _, villages = new_commune(fleet, villages=1, **quiet)
    title = f"Bản tin lịch {secrets.token_hex(2)}"
    bulletin_id = approved_bulletin(fleet, tmp_path, villages[0], title)
    today = datetime.now(VN).date()
    quiet_hour = int(quiet["quiet_start"][:2])

    page, errors = open_page()
    errors.allow(422)  # the quiet hours' refusal below
    page.goto(f"{controller.url}/console/#/schedule?bulletin={bulletin_id}")
    log_in(page, "admin", ADMIN_PASSWORD)
    form = page.locator("form.schedule-form")
    assert form.locator("select[name=bulletin]").input_value() == bulletin_id, "preselected from ?bulletin="
    form.locator("select[name=kind]").select_option("weekly")
    form.locator("input[name=start_date]").fill(today.isoformat())
    form.locator("input[name=start_time]").fill(f"{quiet_hour:02d}:10")
    form.locator(f"input[name=weekday][value='{today.weekday()}']").check()
    form.locator(f"input[name=target_area][value={villages[0]}]").check()
    form.get_by_role("button", name="Lên lịch…").click()
    confirm(page, title)
    refusal = form.locator("p.error[role=alert]")
    refusal.wait_for(timeout=10_000)
    assert "giờ yên lặng" in refusal.inner_text() and english_in(refusal.inner_text()) == []
    assert schedules_of(fleet, bulletin_id) == [], "refused: nothing scheduled"

    form.locator("input[name=quiet_override]").check()  # asked for anyway: accepted, and marked
    form.get_by_role("button", name="Lên lịch…").click()
    confirm(page, title)
    page.locator("#toast.ok", has_text="Đã lên lịch").wait_for(timeout=10_000)
    [created] = schedules_of(fleet, bulletin_id)
    assert created["kind"] == "weekly" and created["weekdays"] == [today.weekday()]
    assert created["start_local"].startswith(f"{today.isoformat()}T{quiet_hour:02d}:10")
    assert created["area_ids"] == villages and created["quiet_override"]

    page.locator("select[name=calendar_area]").select_option(villages[0])
    day = page.locator(f"li.day[data-date='{today.isoformat()}']")
    play = day.locator("li.play", has_text=title)
    play.wait_for(timeout=10_000)
    assert f"{quiet_hour:02d}:10" in play.inner_text() and "Được phép trong giờ yên lặng" in play.inner_text()
    day.locator("button.day-button").click()
    detail = page.locator("#day-detail")
    detail.locator("li", has_text=title).wait_for(timeout=5_000)
    assert f"Giờ yên lặng của khu vực: {quiet['quiet_start']}" in detail.inner_text()
    assert "nhưng lịch đã được cho phép phát trong giờ yên lặng" in detail.inner_text()
    assert accessibility_violations(page) == []

    page.locator("tr", has_text=title).get_by_role("button", name="Sửa").click()  # to a time outside them
    safe = f"{(quiet_hour + 5) % 24:02d}:30"
    form.locator("input[name=start_time]").fill(safe)
    form.locator("input[name=quiet_override]").uncheck()
    form.get_by_role("button", name="Lưu thay đổi…").click()
    confirm(page, created["id"])
    page.locator("#toast.ok", has_text=created["id"]).wait_for(timeout=10_000)
    [edited] = schedules_of(fleet, bulletin_id)
    assert edited["id"] != created["id"] and safe in edited["start_local"], "the old one replaced"
    assert not edited["quiet_override"]
    audit = fleet.http.get(f"{API}/audit", params={"limit": 20}).json()
    assert any(e["action"] == "schedule.replace" and e["targets"][:2] == [created["id"], edited["id"]]
               for e in audit), "replaced in one step"
    day.locator("li.play", has_text=safe).wait_for(timeout=10_000)
    assert "giờ yên lặng" not in day.locator("li.play", has_text=title).inner_text()

    page.locator("tr", has_text=title).get_by_role("button", name="Dừng").click()
    confirm(page, title)
    page.locator("#toast.ok", has_text="Đã dừng lịch").wait_for(timeout=10_000)
    assert schedules_of(fleet, bulletin_id) == []
    # the list reloads after the toast: wait for the row to go, as a user would
    page.locator("tr", has_text=title).wait_for(state="detached", timeout=10_000)


def test_a_recording_is_broadcast_now_to_a_village_and_followed_to_completion(
        fleet: Fleet, controller: ControllerProcess, open_page: Any, tmp_path: Path) -> None:
    _, villages = new_commune(fleet, villages=2)
    agents = [fleet.enrolled_agent(area=villages[0]) for _ in range(3)]
    for _, config in agents:
        fleet.start(config)
    tag = secrets.token_hex(2)
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / f"phat-{tag}.wav", [500.0, 700.0]))
    long_sha, _ = upload_media(fleet, write_steps_wav(tmp_path / f"dai-{tag}.wav", [400.0] * 20))
    for device_id, _ in agents:
        wait_for(lambda d=device_id: fleet.online(d), 15.0, what=f"{device_id} online")

    page, _ = open_page()
    page.goto(f"{controller.url}/console/#/broadcast")
    log_in(page, "admin", ADMIN_PASSWORD)
    form = page.locator("form.broadcast-form")
    form.locator("input[name=source][value=media]").check()
    form.locator("select[name=media_sha256]").select_option(sha)
    form.locator("input[name=level][value=priority]").check()
    village = f"input[name=area][value={villages[0]}]"
    counted = form.locator("label", has=page.locator(village)).inner_text()
    assert "3 cụm loa" in counted, "the tree counts the clusters under each area"
    form.locator(village).check()
    form.locator(".reach", has_text="3 cụm loa").wait_for(timeout=5_000)
    assert accessibility_violations(page) == []

    form.get_by_role("button", name="Phát ngay…").click()
    confirm(page, "3 cụm loa")
    board = page.locator(".delivery")
    for device_id, _ in agents:
        board.locator(f"tr[data-device={device_id}] .delivery-state.completed").wait_for(timeout=40_000)
    board.locator("p.ok", has_text="Đã xong").wait_for(timeout=15_000)
    assert page.get_by_role("button", name="Dừng phát").is_hidden(), "nothing left to stop"
    assert accessibility_violations(page) == []
    [sent] = [b for b in fleet.http.get(f"{API}/broadcasts").json() if b["area_ids"] == [villages[0]]]
    assert sent["level"] == "priority" and sent["media_sha256"] == sha

    form.locator("select[name=media_sha256]").select_option(long_sha)  # a long one, stopped while it plays
    form.get_by_role("button", name="Phát ngay…").click()
    confirm(page, "3 cụm loa")
    page.locator(".delivery .delivery-state.playing").first.wait_for(timeout=20_000)
    page.get_by_role("button", name="Dừng phát").click()
    confirm(page, "Dừng")
    page.locator("#toast.ok", has_text="Đã dừng").wait_for(timeout=10_000)
    stopped = [b for b in fleet.http.get(f"{API}/broadcasts").json() if b["media_sha256"] == long_sha]
    assert [b["status"] for b in stopped] == ["stopped"], stopped


def test_an_emergency_schedule_waits_for_a_second_approver_who_confirms_it_here(
        fleet: Fleet, controller: ControllerProcess, open_page: Any, tmp_path: Path) -> None:
    """An emergency schedule to a village that confirms by a second approver shows as waiting; an
    approver of the commune confirms it on the schedule page, and it is active, showing who."""
    commune_id, (village,) = new_commune(fleet, villages=1, **quiet_hours_away_from_now())
    fleet.http.patch(f"{API}/areas/{village}",
                     json={"emergency_confirm": "second_approver"}).raise_for_status()
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "bao.wav", [880.0]))
    title = f"Cảnh báo lũ {secrets.token_hex(2)}"
    bulletin = fleet.http.post(f"{API}/bulletins", json={"title": title, "level": "emergency",
                                                        "media_sha256": sha, "area_id": commune_id}).json()
    fleet.http.post(f"{API}/bulletins/{bulletin['id']}/submit").raise_for_status()
    start = (datetime.now(VN) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M")
    waiting = fleet.http.post(f"{API}/bulletins/{bulletin['id']}/schedules", json={
        "kind": "once", "start_local": start, "area_ids": [village],
        "confirm_password": ADMIN_PASSWORD}).json()
    assert waiting["awaiting_confirmation"] is True, waiting
    approver = f"duyet.{secrets.token_hex(3)}"
    fleet.http.post(f"{API}/users", json={"username": approver, "password": USER_PASSWORD, "role": "approver",
                                          "area_id": commune_id}).raise_for_status()
    page, _ = open_page()
    page.goto(f"{controller.url}/console/#/schedule")
    log_in(page, approver, USER_PASSWORD)
    page.goto(f"{controller.url}/console/#/schedule")
    row = page.locator("tbody tr", has_text=title)
    row.get_by_text("chờ người duyệt thứ hai").wait_for(timeout=10_000)
    row.get_by_role("button", name="Xác nhận phát").click()
    confirm(page, title)
    row.get_by_text(f"xác nhận: {approver}").wait_for(timeout=10_000)
    confirmed = schedules_of(fleet, bulletin["id"])[0]
    assert (confirmed["active"], confirmed["confirmed_by"]) == (True, approver)
    fleet.http.delete(f"{API}/schedules/{confirmed['id']}").raise_for_status()
