"""What waits for an approver, in a real browser: the Bulletins entry of the menu counts the bulletins
waiting, the queue shows a spoken bulletin's text beside its player, and the count goes down once one
is approved."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from loalang_stack.services import ControllerProcess
from tests.browser import accessibility_violations, log_in
from tests.testkit import (
    USER_PASSWORD,
    Fleet,
    new_commune,
    user_client,
    wait_job,
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
