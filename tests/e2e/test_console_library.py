"""The media library and bulletins pages in a real browser: an upload followed to the playable item,
a spoken bulletin heard before it is saved, submitted, and approved by another user from the
approval queue; axe-core finds no serious violation and no page logs a JavaScript error."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loalang_stack.services import ControllerProcess
from tests.browser import accessibility_violations, log_in
from tests.testkit import ADMIN_PASSWORD, Fleet, write_steps_wav

pytestmark = pytest.mark.e2e

API = "/api/v1"
PASSWORD = "mat-khau-thu-vien-1"
LOADED_DURATION = """audio => new Promise((resolve, reject) => {
  audio.addEventListener("loadedmetadata", () => resolve(audio.duration), { once: true });
  audio.addEventListener("error", () => reject(new Error("the audio did not load")), { once: true });
  audio.load();
})"""


def user(fleet: Fleet, role: str, area_id: str) -> str:
    """A new user of role in area_id; returns the user name (the password is PASSWORD)."""
    username = f"{role}-{secrets.token_hex(3)}"
    created = fleet.http.post(f"{API}/users", json={"username": username, "password": PASSWORD,
                                                    "role": role, "area_id": area_id})
    assert created.status_code == 201, created.text
    return username


@pytest.fixture
def village_needing_approval(fleet: Fleet) -> Iterator[str]:
    """A fresh village under xa-mot whose bulletins need an approver. Its approval ends with the test:
    the shared commune's broadcasts reach it, and would need approval too."""
    area_id = f"thon-duyet-{secrets.token_hex(3)}"
    created = fleet.http.post(f"{API}/areas", json={"id": area_id, "name": "Thôn Duyệt", "level": "village",
                                                     "parent_id": "xa-mot", "approval": "required"})
    assert created.status_code == 201, created.text
    yield area_id
    fleet.http.patch(f"{API}/areas/{area_id}", json={"approval": "none"}).raise_for_status()


def loaded_duration(audio: Any) -> float:
    """The audio element's duration once its metadata loaded (it fails when the file does not play)."""
    return float(audio.evaluate(LOADED_DURATION))


def test_an_upload_shows_its_progress_and_becomes_a_playable_item(
        controller: ControllerProcess, fleet: Fleet, open_page: Any, tmp_path: Path) -> None:
    wav = write_steps_wav(tmp_path / "chuong.wav", [300.0, 350.0, 400.0])
    title = f"Chuông báo {secrets.token_hex(2)}"
    page, _ = open_page()
    page.goto(f"{controller.url}/console/#/media")
    log_in(page, "admin", ADMIN_PASSWORD)
    page.locator("h1", has_text="Thư viện").wait_for()
    assert accessibility_violations(page) == []

    upload = page.locator("form.media-upload")
    upload.locator("input[type=file]").set_input_files(str(wav))
    upload.get_by_label("Tiêu đề").fill(title)
    upload.get_by_role("button", name="Tải lên").click()
    upload.locator(".progress-words", has_text="Xong").wait_for(timeout=30_000)
    assert upload.locator("progress").evaluate("bar => bar.value") == 1.0, "the bar reached its end"

    row = page.locator(".media-items tbody tr", has_text=title)
    row.wait_for(timeout=10_000)
    cells = row.locator("td").all_inner_texts()
    assert cells[1] == "Tải lên" and cells[2] == "0:03" and cells[3] == "admin", cells
    assert 2.5 < loaded_duration(row.locator("audio")) < 3.5, "the transcoded file plays in the browser"
    assert accessibility_violations(page) == []
    page.set_viewport_size({"width": 360, "height": 740})
    width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], f"no horizontal scroll at 360 px: {width}"


def test_a_spoken_bulletin_is_heard_before_saving_and_approved_by_another_user(
        controller: ControllerProcess, fleet: Fleet, open_page: Any, village_needing_approval: str) -> None:
    village = village_needing_approval
    operator, approver = user(fleet, "operator", village), user(fleet, "approver", "xa-mot")
    title = f"Lịch tiêm phòng {secrets.token_hex(2)}"

    page, _ = open_page()
    page.goto(f"{controller.url}/console/#/bulletins")
    log_in(page, operator, PASSWORD)
    form = page.locator("form.bulletin-new")
    form.get_by_label("Tiêu đề").fill(title)
    form.get_by_label("Văn bản (đọc bằng giọng nói)").check()
    form.get_by_label("Văn bản tiếng Việt").fill("Sáng thứ Bảy tiêm phòng cho trẻ em tại trạm y tế xã.")
    form.get_by_role("button", name="Lưu bản tin").click()
    page.locator("#toast.error", has_text="Nghe thử").wait_for()  # nothing is saved before it is heard
    assert not any(b["title"] == title for b in fleet.http.get(f"{API}/bulletins").json())

    form.get_by_role("button", name="Nghe thử").click()
    heard = form.locator(".speech-preview audio")
    heard.wait_for(timeout=30_000)
    assert loaded_duration(heard) > 1.0, "the spoken text plays before it is saved"
    assert accessibility_violations(page) == []
    form.get_by_role("button", name="Lưu bản tin").click()
    row = page.locator("tbody tr", has_text=title)
    row.locator(".bulletin-status", has_text="Bản nháp").wait_for(timeout=10_000)
    row.get_by_role("button", name="Gửi duyệt").click()
    row.locator(".bulletin-status", has_text="Chờ duyệt").wait_for(timeout=10_000)
    assert page.locator(".approval-queue").count() == 0, "an operator has no approval queue"

    checker, _ = open_page()
    checker.goto(f"{controller.url}/console/#/bulletins")
    log_in(checker, approver, PASSWORD)
    queued = checker.locator(".approval-queue tbody tr", has_text=title)
    queued.wait_for(timeout=10_000)
    assert loaded_duration(queued.locator("audio")) > 1.0, "the approver hears what they approve"
    assert checker.locator("form.bulletin-new").count() == 0, "an approver writes no bulletin"
    assert accessibility_violations(checker) == []
    queued.get_by_label(f"Ghi chú cho «{title}»").fill("Đã nghe, đồng ý.")
    queued.get_by_role("button", name="Duyệt").click()
    checker.locator("tbody tr", has_text=title).locator(".bulletin-status", has_text="Đã duyệt").wait_for(
        timeout=10_000)
    assert checker.locator(".approval-queue tbody tr", has_text=title).count() == 0, "it left the queue"
    [bulletin] = [b for b in fleet.http.get(f"{API}/bulletins").json() if b["title"] == title]
    assert bulletin["status"] == "approved" and bulletin["decided_by"] == approver, bulletin
    assert bulletin["note"] == "Đã nghe, đồng ý." and bulletin["media_sha256"], bulletin

    page.reload()
    link = page.locator("tbody tr", has_text=title).get_by_role("link", name="Lên lịch")
    link.wait_for(timeout=10_000)
    assert link.get_attribute("href") == f"#/schedule?bulletin={bulletin['id']}"


def test_an_approver_cannot_approve_their_own_bulletin(
        controller: ControllerProcess, fleet: Fleet, open_page: Any, village_needing_approval: str) -> None:
    village = village_needing_approval
    bulletin = fleet.http.post(f"{API}/bulletins", json={
        "title": f"Tiếp sóng {secrets.token_hex(2)}", "level": "background", "area_id": village,
        "relay_url": "https://radio.example.vn/vov1.mp3", "duration_ms": 3_600_000}).json()
    assert fleet.http.post(f"{API}/bulletins/{bulletin['id']}/submit").json()["status"] == "pending"
    page, errors = open_page()
    errors.allow(403)  # the refusal below
    page.goto(f"{controller.url}/console/#/bulletins")
    log_in(page, "admin", ADMIN_PASSWORD)
    queued = page.locator(f".approval-queue tr[data-bulletin={bulletin['id']}]")
    assert "radio.example.vn" in queued.inner_text()
    queued.get_by_role("button", name="Duyệt").click()
    page.locator("#toast.error", has_text="không được tự duyệt bản tin").wait_for(timeout=10_000)
    assert fleet.http.get(f"{API}/bulletins/{bulletin['id']}").json()["status"] == "pending"
