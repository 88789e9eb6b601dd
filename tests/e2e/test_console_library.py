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
from tests.console_words import english_in
from tests.testkit import ADMIN_PASSWORD, Fleet, upload_media, write_steps_wav

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


def test_a_preview_keeps_nothing_and_a_text_over_the_limit_is_refused_in_vietnamese(
        controller: ControllerProcess, fleet: Fleet, open_page: Any) -> None:
    page, errors = open_page()
    errors.allow(422)  # the text over the limit, below
    page.goto(f"{controller.url}/console/#/media")
    log_in(page, "admin", ADMIN_PASSWORD)
    form = page.locator("form.media-speech")
    form.wait_for()
    before = {m["sha256"] for m in fleet.http.get(f"{API}/media").json()}
    page.locator(".media-items").wait_for()  # counted once the list is drawn, as after the reload
    rows = page.locator(".media-items tbody tr").count()

    form.get_by_label("Văn bản tiếng Việt").fill("Chiều nay mười bốn giờ họp thôn tại nhà văn hóa.")
    assert form.locator(".spoken-count").inner_text() == "48 / 5.000 ký tự"
    form.get_by_role("button", name="Nghe thử").click()
    heard = form.locator(".speech-preview audio")
    heard.wait_for(timeout=30_000)
    assert loaded_duration(heard) > 1.0, "the preview plays"
    assert "chưa lưu vào thư viện" in form.locator(".speech-preview").inner_text()
    assert accessibility_violations(page) == []
    page.reload()
    page.locator(".media-items").wait_for()
    assert page.locator(".media-items tbody tr").count() == rows, "the library shows no new item"
    assert {m["sha256"] for m in fleet.http.get(f"{API}/media").json()} == before

    form.get_by_label("Văn bản tiếng Việt").fill("Thông báo khẩn của xã.\n\n" * 240)
    count = form.locator(".spoken-count.over")
    assert count.inner_text() == "5.519 / 5.000 ký tự: quá dài, hãy rút gọn", "the count says it while typing"
    form.get_by_role("button", name="Lưu vào thư viện").click()
    text = form.get_by_label("Văn bản tiếng Việt")
    refused = form.locator(".field-error")
    refused.wait_for(timeout=10_000)
    said = refused.inner_text()
    assert "Văn bản quá dài: tối đa 5.000 ký tự" in said and english_in(said) == [], said
    assert refused.get_attribute("id") in (text.get_attribute("aria-describedby") or ""), "next to the text"
    assert {m["sha256"] for m in fleet.http.get(f"{API}/media").json()} == before, "nothing cut and kept"


def test_an_item_in_use_is_kept_and_an_unused_one_deleted(
        controller: ControllerProcess, fleet: Fleet, open_page: Any, tmp_path: Path) -> None:
    tag = secrets.token_hex(2)
    used, _ = upload_media(fleet, write_steps_wav(tmp_path / f"dang-dung-{tag}.wav", [610.0, 620.0]))
    unused, _ = upload_media(fleet, write_steps_wav(tmp_path / f"bo-di-{tag}.wav", [630.0, 640.0]))
    fleet.http.post(f"{API}/bulletins", json={"title": f"Dùng tệp {tag}", "media_sha256": used,
                                              "area_id": "xa-mot"}).raise_for_status()
    page, errors = open_page()
    errors.allow(409)  # the file in use, below
    page.goto(f"{controller.url}/console/#/media")
    log_in(page, "admin", ADMIN_PASSWORD)
    kept = page.locator(f".media-items tr[data-sha256='{used}']")
    kept.get_by_role("button", name=f"Xoá «dang-dung-{tag}»").click()
    dialog = page.get_by_role("dialog")
    assert f"dang-dung-{tag}" in dialog.inner_text()
    dialog.get_by_role("button", name="Xoá").click()
    page.locator("#toast.error", has_text="vẫn đang được dùng").wait_for(timeout=10_000)
    assert kept.count() == 1 and fleet.http.get(f"{API}/media/{used}").status_code == 200

    page.locator(f".media-items tr[data-sha256='{unused}']").get_by_role(
        "button", name=f"Xoá «bo-di-{tag}»").click()
    page.get_by_role("dialog").get_by_role("button", name="Xoá").click()
    page.locator("#toast.ok", has_text=f"Đã xoá «bo-di-{tag}»").wait_for(timeout=10_000)
    page.locator(f".media-items tr[data-sha256='{unused}']").wait_for(state="detached", timeout=10_000)
    assert fleet.http.get(f"{API}/media/{unused}").status_code == 404
    assert not (controller.data_dir / "media" / unused).exists()
    assert accessibility_violations(page) == []
