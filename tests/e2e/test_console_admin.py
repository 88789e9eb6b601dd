"""The administration and reports pages in a real browser: a device registered with its position and
enrolled with the claim code the page shows, moved, and the audit log saying so; a commune operator
created through the page; an API client's key shown once and working; the reports' plots and CSV
downloads for a played broadcast; a signed release added and rolled out, a tampered one refused.
Every section is checked by axe-core and must log no JavaScript error."""

from __future__ import annotations

import csv
import io
import json
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from controller.keyring import certify_release_key
from loalang_protocol.keys import KeyPair
from loalang_protocol.releases import pack
from loalang_stack.services import ControllerProcess
from tests.browser import accessibility_violations, log_in
from tests.testkit import (
    ADMIN_PASSWORD,
    Fleet,
    fake_release_wheels,
    new_commune,
    receipts,
    upload_media,
    wait_for,
    write_steps_wav,
)

pytestmark = pytest.mark.e2e

API = "/api/v1"


def confirm(page: Any) -> None:
    """Press the confirmation dialog's confirm button (every change asks first)."""
    page.get_by_role("dialog").get_by_role("button", name="Xác nhận").click()


def admin_page(open_page: Any, controller: ControllerProcess, section: str) -> Any:
    page, _ = open_page()
    page.goto(f"{controller.url}/console/#/admin/{section}")
    log_in(page, "admin", ADMIN_PASSWORD)
    return page


def test_a_registered_device_enrols_with_the_code_shown_moves_and_is_in_the_audit_log(
        fleet: Fleet, controller: ControllerProcess, open_page: Any, tmp_path: Path) -> None:
    _, villages = new_commune(fleet, villages=2)
    name = f"Cụm loa đình làng {secrets.token_hex(2)}"
    page = admin_page(open_page, controller, "devices")
    page.fill("input[name=device_name]", name)
    page.select_option("select[name=device_area]", villages[0])
    page.fill("input[name=latitude]", "18.6796")
    page.fill("input[name=longitude]", "105.6813")
    page.get_by_role("button", name="Đăng ký", exact=True).click()
    confirm(page)
    code = page.locator(".secret-value").inner_text().strip()
    [device] = [d for d in fleet.http.get(f"{API}/devices", params={"q": name}).json()]
    assert (device["area_id"], device["latitude"], device["longitude"]) == (
        villages[0], 18.6796, 105.6813)
    assert page.locator(".secret pre", has_text=code).count() == 1, "the enrol command carries the code"
    assert accessibility_violations(page) == []

    enrolled = fleet.enroll(code, tmp_path / "board")
    assert enrolled.returncode == 0, enrolled.stderr
    assert fleet.device(device["id"])["enrolled"]

    row = page.locator("tbody tr", has_text=device["id"])
    row.get_by_role("button", name="Chuyển khu vực").click()
    page.select_option("select[name=move_area]", villages[1])
    page.get_by_role("button", name="Chuyển khu vực", exact=True).click()
    confirm(page)
    row.get_by_text("Đã kích hoạt").wait_for(timeout=10_000)  # the list again, enrolled now
    assert row.locator("td").nth(2).inner_text() == "Thôn 1"
    assert fleet.device(device["id"])["area_id"] == villages[1]

    page.get_by_role("link", name="Nhật ký thao tác").click()
    # The devices table (which names the device too) stays until the log arrives: wait for the log's rows.
    log_rows = page.locator("section.panel:has(h2:text-is('Nhật ký thao tác')) tbody tr")
    mine = log_rows.filter(has_text=device["id"])
    mine.filter(has_text="device.move").first.wait_for(timeout=10_000)
    actions = [text.split("\t")[2] for text in mine.all_inner_texts()]
    assert actions[:3] == ["device.move", "device.enrol", "device.create"], actions  # newest first
    assert accessibility_violations(page) == []


GROUP_LINES = """[...document.querySelector('.secret-value').childNodes].filter(n => n.nodeType === 3)
  .map(n => { const r = document.createRange(); r.selectNodeContents(n);
              return new Set([...r.getClientRects()].map(q => Math.round(q.top))).size; })"""


def test_a_new_claim_code_on_a_phone_breaks_between_its_groups(
    open_page: Any, controller: ControllerProcess, fleet: Fleet
) -> None:
    device_id, _ = fleet.register("thon-a")
    page, _ = open_page(360, 740)
    page.goto(f"{controller.url}/console/#/admin/devices")
    log_in(page, "admin", ADMIN_PASSWORD)
    row = page.locator("tbody tr", has_text=device_id)
    row.get_by_role("button", name="Mã kích hoạt mới").click()
    confirm(page)
    code = page.locator(".secret-value").inner_text().strip()
    assert len(code) == 24 and code.count("-") == 4, "five groups, copied without the break hints"
    assert page.evaluate(GROUP_LINES) == [1] * 9, "every group (and dash) on one line"
    width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], f"no horizontal scroll at 360 px: {width}"


def test_a_commune_operator_is_created_through_the_page(
        fleet: Fleet, controller: ControllerProcess, open_page: Any) -> None:
    commune_id, _ = new_commune(fleet, villages=1)
    username = f"vanhanh-{secrets.token_hex(3)}"
    page = admin_page(open_page, controller, "users")
    page.fill("input[name=new_username]", username)
    page.fill("input[name=full_name]", "Trần Văn Vận Hành")
    page.fill("input[name=new_password]", "mat-khau-ban-dau-1")
    page.select_option("select[name=role]", "operator")
    page.select_option("select[name=area_id]", commune_id)
    page.get_by_role("button", name="Tạo người dùng").click()
    confirm(page)
    row = page.locator("tbody tr", has_text=username)
    row.wait_for(timeout=10_000)
    assert "Người vận hành" in row.inner_text() and "Đang hoạt động" in row.inner_text()
    [user] = [u for u in fleet.http.get(f"{API}/users").json() if u["username"] == username]
    assert (user["role"], user["area_id"], user["full_name"]) == (
        "operator", commune_id, "Trần Văn Vận Hành")
    assert accessibility_violations(page) == []

    row.get_by_role("button", name="Khoá").click()
    confirm(page)
    row.get_by_text("Đã khoá").wait_for(timeout=10_000)
    assert fleet.http.get(f"{API}/users/{user['id']}").json()["disabled"] is True


def test_each_section_is_accessible_and_an_api_client_key_works_once_shown(
        fleet: Fleet, controller: ControllerProcess, open_page: Any) -> None:
    commune_id, _ = new_commune(fleet, villages=1)
    page = admin_page(open_page, controller, "areas")
    page.locator(f"button[data-area={commune_id}]").click()
    page.fill("input[name=child_name]", "Thôn Mới")
    page.get_by_role("button", name="Thêm khu vực con", exact=True).click()
    confirm(page)
    page.locator("h2", has_text="Thôn Mới").wait_for(timeout=10_000)  # the new area, chosen
    page.fill("input[name=quiet_start]", "21:30")
    page.fill("input[name=quiet_end]", "05:30")
    assert page.get_attribute("input[name=ducking_db]", "placeholder") == "-15", "inherited, shown"
    page.fill("input[name=ducking_db]", "-22")
    page.select_option("select[name=approval]", "required")
    page.get_by_role("button", name="Lưu khu vực").click()
    confirm(page)
    page.locator("#toast.ok", has_text="Lưu khu vực").wait_for(timeout=10_000)
    [child] = [a for a in fleet.http.get(f"{API}/areas").json() if a["parent_id"] == commune_id
               and a["name"] == "Thôn Mới"]
    saved = (child["level"], child["quiet_start"], child["quiet_end"], child["approval"], child["ducking_db"])
    assert saved == ("village", "21:30", "05:30", "required", -22)
    assert accessibility_violations(page) == []

    page.get_by_role("link", name="Ứng dụng kết nối (API)").click()
    client_id = f"he-thong-{secrets.token_hex(3)}"
    page.fill("input[name=client_id]", client_id)
    page.fill("input[name=client_name]", "Hệ thống thông tin nguồn")
    page.select_option("select[name=role]", "viewer")
    page.get_by_role("button", name="Tạo ứng dụng").click()
    confirm(page)
    key = page.locator(".secret-value").inner_text().strip()
    answer = httpx.get(f"{controller.url}{API}/areas", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    assert accessibility_violations(page) == []

    page.get_by_role("link", name="Người dùng và vai trò").click()
    page.locator("tbody tr", has_text="admin").first.wait_for()
    assert accessibility_violations(page) == []
    page.get_by_role("link", name="Nhật ký thao tác").click()
    page.locator("tbody tr", has_text=client_id).first.wait_for(timeout=10_000)


def test_reports_plot_a_played_broadcast_and_download_csv(
        fleet: Fleet, controller: ControllerProcess, open_page: Any, tmp_path: Path) -> None:
    commune_id, villages = new_commune(fleet, villages=1)
    device_id, config = fleet.enrolled_agent(area=villages[0])
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 10.0, what="online")
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "tin.wav", [500.0, 700.0]))
    title = f"Tin báo cáo {secrets.token_hex(2)}"
    played = fleet.http.post(f"{API}/broadcasts", json={
        "level": "normal", "media_sha256": sha, "title": title, "area_ids": villages,
        "quiet_override": True})
    assert played.status_code == 201, played.text
    wait_for(lambda: receipts(fleet, device_id, "completed"), 30.0, what="the broadcast played")

    page, _ = open_page()
    page.goto(f"{controller.url}/console/#/reports")
    log_in(page, "admin", ADMIN_PASSWORD)
    page.select_option("select[name=area_id]", commune_id)
    page.get_by_role("button", name="Xem", exact=True).click()
    delivery = page.locator("figure", has_text="Tỷ lệ phát trọn vẹn").locator("svg[role=img]")
    per_day = page.locator("figure", has_text="Số lượt phát theo ngày").locator("svg[role=img]")
    # the plots of every area are there first; these are the commune's once its answer is drawn
    wait_for(lambda: f"{title} 100 % (1/1 lượt)" in (delivery.get_attribute("aria-label") or ""), 10.0,
             what="the commune's delivery plot")
    wait_for(lambda: "1/1 lượt" in (per_day.get_attribute("aria-label") or ""), 10.0,
             what="the commune's plays per day")
    assert page.locator("figure", has_text="Số lượt phát theo ngày").locator("rect").count() == 7
    uptime = page.locator("figure", has_text="Thời gian hoạt động").locator("svg[role=img]")
    assert f"Cụm loa {device_id}" in uptime.get_attribute("aria-label")
    page.locator("figure", has_text="Dữ liệu di động").locator("svg[role=img], p.muted").wait_for()
    assert accessibility_violations(page) == []

    with page.expect_download() as download:
        page.get_by_role("link", name="Các lần phát (CSV, từ máy chủ)").click()
    rows = read_csv(download.value.path())
    assert rows[0][:3] == ["device_id", "device_name", "area_id"], rows[0]
    assert [(r[0], r[4], r[13]) for r in rows[1:]] == [(device_id, title, "completed")]

    with page.expect_download() as download:
        page.get_by_role("button", name="Cụm loa: hoạt động và dữ liệu (CSV)").click()
    rows = read_csv(download.value.path())
    assert rows[0][:6] == ["device_id", "name", "area_id", "online", "last_seen", "uptime_pct"], rows[0]
    assert rows[1][0] == device_id and 0 <= float(rows[1][5]) <= 100 and float(rows[1][6]) > 0, rows[1]


def read_csv(path: Any) -> list[list[str]]:
    text = Path(path).read_text(encoding="utf-8")
    assert text.startswith("\ufeff"), "a byte-order mark for spreadsheets"
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def test_a_release_is_added_and_rolled_out_through_the_page_and_a_tampered_one_is_refused(
        fleet: Fleet, controller: ControllerProcess, open_page: Any, tmp_path: Path) -> None:
    """Versions 8.x: the session's controller holds the other tests' releases too."""
    _, villages = new_commune(fleet, villages=1)
    device_id, _ = fleet.enrolled_agent(area=villages[0])
    keys = tmp_path / "release-keys"
    certify_release_key(keys, controller.data_dir / "keys" / "root.key", 30)
    release = signed_release(keys, tmp_path, "8.0.0", "sửa lỗi phát lại")
    tampered = signed_release(keys, tmp_path, "8.0.1", "")
    tampered.write_bytes(tampered.read_bytes().replace(b"PK agent wheel 8.0.1", b"PK agent wheel 6.6.6"))

    page, errors = open_page()
    errors.allow(422)  # the tampered release's refusal
    page.goto(f"{controller.url}/console/#/admin/releases")
    log_in(page, "admin", ADMIN_PASSWORD)
    page.set_input_files("input[name=file]", str(tampered))
    page.get_by_role("button", name="Kiểm tra và thêm").click()
    page.locator(".field-error", has_text="bị sửa sau khi ký").wait_for(timeout=10_000)
    assert fleet.http.get(f"{API}/releases/8.0.1").status_code == 404

    page.set_input_files("input[name=file]", str(release))
    page.get_by_role("button", name="Kiểm tra và thêm").click()
    page.locator("tbody tr", has_text="sửa lỗi phát lại").wait_for(timeout=10_000)
    assert accessibility_violations(page) == []

    page.select_option("select[name=release]", "8.0.0")
    page.select_option("select[name=areas]", [villages[0]])
    page.fill("input[name=stages]", "1, 100%")
    page.fill("input[name=gate_s]", "600")
    page.get_by_role("button", name="Bắt đầu cập nhật").click()
    confirm(page)
    rollout = page.get_by_role("article", name="Cập nhật lên 8.0.0")
    rollout.get_by_text("đang chạy").wait_for(timeout=10_000)
    assert "Giai đoạn 1/2" in rollout.inner_text() and "Đã gửi: 1" in rollout.inner_text()
    [started] = [r for r in fleet.http.get(f"{API}/rollouts").json() if r["release"] == "8.0.0"]
    assert [d["device_id"] for d in started["devices"]] == [device_id]
    assert accessibility_violations(page) == []

    rollout.get_by_role("button", name="Tạm dừng").click()
    confirm(page)
    rollout.get_by_text("tạm dừng").wait_for(timeout=10_000)
    rollout.get_by_role("button", name="Trả về phiên bản cũ").click()
    confirm(page)
    rollout.get_by_text("đã trả về phiên bản cũ").wait_for(timeout=10_000)
    assert fleet.http.get(f"{API}/rollouts/{started['id']}").json()["state"] == "rolled_back"


def signed_release(keys: Path, folder: Path, version: str, notes: str) -> Path:
    """A release of fake wheels at version, signed with the release key in keys."""
    out = folder / f"agent-{version}.release"
    pack(fake_release_wheels(folder / f"wheels-{version}", version), version, notes,
         KeyPair.load(keys / "release.key"), json.loads((keys / "release.cert.json").read_text()), out)
    return out
