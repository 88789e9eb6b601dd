"""What waits for an approver, in a real browser: the Bulletins entry of the menu counts the bulletins
waiting, the queue shows a spoken bulletin's text beside its player, and the count goes down once one
is approved; the broadcast page says before anything is confirmed that a file or text cannot go where
approval is required, and lets an approved bulletin go."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from loalang_stack.services import ControllerProcess
from tests.browser import accessibility_violations, log_in
from tests.testkit import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    Fleet,
    new_commune,
    upload_media,
    user_client,
    wait_job,
    write_steps_wav,
)

pytestmark = pytest.mark.e2e

API = "/api/v1"
NOTICE = "Sáng thứ Bảy tiêm phòng cho trẻ em tại trạm y tế xã, mang theo sổ tiêm chủng."


def waiting_badge(page: Any) -> Any:
    """The number on the menu's Bulletins entry."""
    return page.locator("header nav a[href='#/bulletins'] .waiting")


def pending_bulletins(fleet: Fleet, commune: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A spoken bulletin and a relay of a new operator of commune, both submitted (pending)."""
    operator, _ = user_client(fleet, "operator", commune)
    spoken = operator.post(f"{API}/bulletins", json={"title": f"Tiêm phòng {secrets.token_hex(2)}",
                                                     "text": NOTICE, "area_id": commune}).json()
    wait_job(fleet, spoken["job_id"])
    relay = operator.post(f"{API}/bulletins", json={
        "title": f"Tiếp sóng {secrets.token_hex(2)}", "level": "background", "area_id": commune,
        "relay_url": "https://radio.example.vn/vov1.mp3", "duration_ms": 3_600_000}).json()
    for bulletin in (spoken, relay):
        submitted = operator.post(f"{API}/bulletins/{bulletin['id']}/submit")
        assert submitted.json()["status"] == "pending", submitted.text
    return spoken, relay


def test_an_approver_sees_what_waits_reads_its_text_and_approves_it(
        fleet: Fleet, controller: ControllerProcess, open_page: Any) -> None:
    commune, _ = new_commune(fleet, villages=1, approval="required")
    spoken, relay = pending_bulletins(fleet, commune)
    _, approver = user_client(fleet, "approver", commune)

    page, _ = open_page()
    page.goto(f"{controller.url}/console/#/")
    log_in(page, approver, USER_PASSWORD)
    badge = waiting_badge(page)
    badge.locator("[aria-hidden]", has_text="2").wait_for(timeout=10_000)
    assert badge.locator(".visually-hidden").inner_text() == "2 bản tin chờ duyệt"
    assert accessibility_violations(page) == []

    page.locator("header nav a[href='#/bulletins']").click()
    queued = page.locator(f".approval-queue tr[data-bulletin={spoken['id']}]")
    queued.wait_for(timeout=10_000)
    assert queued.locator(".bulletin-text").inner_text() == NOTICE, "the approver reads what will be said"
    assert queued.locator("audio").count() == 1, "and can hear it"
    assert "Xã Riêng" in queued.inner_text() and commune not in queued.inner_text(), "the area by its name"
    assert "radio.example.vn" in page.locator(f".approval-queue tr[data-bulletin={relay['id']}]").inner_text()
    assert accessibility_violations(page) == []
    queued.get_by_role("button", name="Duyệt").click()
    page.locator("#toast.ok", has_text="Đã duyệt").wait_for(timeout=10_000)
    badge.locator("[aria-hidden]", has_text="1").wait_for(timeout=5_000)
    assert fleet.http.get(f"{API}/bulletins/{spoken['id']}").json()["status"] == "approved"

    rejected = page.locator(f".approval-queue tr[data-bulletin={relay['id']}]")
    rejected.get_by_role("button", name="Từ chối").click()
    page.locator("#toast.ok", has_text="Bị từ chối").wait_for(timeout=10_000)
    badge.wait_for(state="hidden", timeout=5_000)  # nothing waits any more


def test_the_broadcast_page_says_up_front_where_only_an_approved_bulletin_may_go(
        fleet: Fleet, controller: ControllerProcess, open_page: Any, tmp_path: Path) -> None:
    commune, (strict, free) = new_commune(fleet, villages=2)
    fleet.http.patch(f"{API}/areas/{strict}", json={"approval": "required"}).raise_for_status()
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / f"ban-tin-{secrets.token_hex(2)}.wav", [520.0]))
    operator, _ = user_client(fleet, "operator", commune)
    bulletin = operator.post(f"{API}/bulletins", json={"title": f"Đã duyệt {secrets.token_hex(2)}",
                                                       "media_sha256": sha, "area_id": strict}).json()
    operator.post(f"{API}/bulletins/{bulletin['id']}/submit").raise_for_status()
    fleet.http.post(f"{API}/bulletins/{bulletin['id']}/approve", json={}).raise_for_status()

    page, _ = open_page()
    page.goto(f"{controller.url}/console/#/broadcast")
    log_in(page, "admin", ADMIN_PASSWORD)
    form = page.locator("form.broadcast-form")
    send = form.get_by_role("button", name="Phát ngay…")
    rule = form.locator(".approval-rule")
    form.locator("input[name=source][value=media]").check()
    form.locator("select[name=media_sha256]").select_option(sha)
    form.locator(f"input[name=area][value={free}]").check()
    assert rule.is_hidden() and send.is_enabled(), "no approval needed there"

    form.locator(f"input[name=area][value={commune}]").check()  # takes in the strict village below it
    rule.wait_for(timeout=5_000)
    assert "Thôn 0 yêu cầu duyệt" in rule.inner_text(), rule.inner_text()
    assert rule.get_by_role("link", name="Bản tin").get_attribute("href") == "#/bulletins"
    assert send.is_disabled(), "nothing to confirm that would be refused"
    assert accessibility_violations(page) == []

    form.locator("input[name=source][value=bulletin]").check()
    form.locator("select[name=bulletin_id]").select_option(bulletin["id"])
    rule.wait_for(state="hidden", timeout=5_000)
    assert send.is_enabled(), "a bulletin an approver approved may go"
