"""Errors in the console are said in its own words, next to the field at fault, with the form left as
it was: a wrong login, a malformed area code and a cluster code already taken in the administration,
roles named in Vietnamese, and a bulletin whose speech failed.
(The emergency page's wrong confirmation password: test_console_emergency.py.)"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from controller.db.models import Bulletin
from controller.db.session import Database
from controller.scheduling.bulletins import speech_interrupted
from loalang_stack.services import ControllerProcess
from tests.browser import accessibility_violations, log_in
from tests.console_words import english_in
from tests.testkit import ADMIN_PASSWORD, OPERATOR_PASSWORD, Fleet, new_commune, operator_of

pytestmark = pytest.mark.e2e

API = "/api/v1"


def field_error(page: Any, selector: str) -> str:
    """The error said next to a control: the text that describes it, once it is marked invalid."""
    control = page.locator(f"{selector}[aria-invalid=true]")
    control.wait_for(timeout=10_000)
    note = page.locator(f"#{control.get_attribute('aria-describedby').split()[-1]}")
    return str(note.inner_text()).strip()


def test_a_wrong_login_is_answered_in_vietnamese_next_to_the_password(
        fleet: Fleet, controller: ControllerProcess, open_page: Any) -> None:
    commune, _ = new_commune(fleet, villages=1)
    operator = operator_of(fleet, commune)
    page, errors = open_page()
    errors.allow(401)  # the wrong password below
    page.goto(f"{controller.url}/console/")
    page.fill("input[name=username]", operator)
    page.fill("input[name=password]", "not-the-password")
    page.press("input[name=password]", "Enter")

    said = field_error(page, "input[name=password]")
    assert said == "Sai tên đăng nhập hoặc mật khẩu."
    assert english_in(said) == []
    assert page.locator("#toast.error").count() == 0, "said once, next to the field"
    assert page.locator("input[name=username]").input_value() == operator, "the form is kept as it was"
    assert accessibility_violations(page) == []

    log_in(page, operator, OPERATOR_PASSWORD)
    assert "Người vận hành" in page.locator("header .who").inner_text()
    assert "operator" not in page.locator("header .who").inner_text().replace(operator, "")


def test_a_malformed_area_code_is_answered_next_to_it_in_vietnamese(
        fleet: Fleet, controller: ControllerProcess, open_page: Any) -> None:
    commune, _ = new_commune(fleet, villages=1)
    page, errors = open_page()
    errors.allow(422)  # the refused code below
    page.goto(f"{controller.url}/console/#/admin/areas")
    log_in(page, "admin", ADMIN_PASSWORD)
    assert "Quản trị viên" in page.locator("header .who").inner_text()
    page.locator(f"button[data-area={commune}]").click()
    page.fill("input[name=child_name]", "Thôn Mới")
    page.fill("input[name=child_id]", "Thon-Moi")
    page.get_by_role("button", name="Thêm khu vực con").click()
    page.get_by_role("dialog").get_by_role("button", name="Xác nhận").click()

    said = field_error(page, "input[name=child_id]")
    assert said.startswith("Mã không hợp lệ"), said
    assert english_in(said) == []
    assert page.locator("input[name=child_name]").input_value() == "Thôn Mới", "the form is kept as it was"
    assert accessibility_violations(page) == []
    children = [a for a in fleet.http.get(f"{API}/areas").json() if a["parent_id"] == commune]
    assert "Thôn Mới" not in [a["name"] for a in children]

    page.fill("input[name=child_id]", f"thon-moi-{secrets.token_hex(2)}")
    assert page.locator("input[name=child_id][aria-invalid]").count() == 0, "cleared as it is corrected"
    page.get_by_role("button", name="Thêm khu vực con").click()
    page.get_by_role("dialog").get_by_role("button", name="Xác nhận").click()
    page.locator("#toast.ok").wait_for(timeout=10_000)
    children = [a for a in fleet.http.get(f"{API}/areas").json() if a["parent_id"] == commune]
    assert "Thôn Mới" in [a["name"] for a in children]


def test_a_cluster_code_already_taken_is_answered_next_to_it(
        fleet: Fleet, controller: ControllerProcess, open_page: Any) -> None:
    _, villages = new_commune(fleet, villages=1)
    taken, _ = fleet.register(area=villages[0])
    page, errors = open_page()
    errors.allow(422)  # the taken code below
    page.goto(f"{controller.url}/console/#/admin/devices")
    log_in(page, "admin", ADMIN_PASSWORD)
    page.fill("input[name=device_name]", "Cụm loa chợ")
    page.select_option("select[name=device_area]", villages[0])
    page.fill("input[name=latitude]", "18.6796")
    page.fill("input[name=longitude]", "105.6813")
    page.fill("input[name=device_id]", taken)
    page.get_by_role("button", name="Đăng ký", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Xác nhận").click()

    said = field_error(page, "input[name=device_id]")
    assert said == "Mã cụm loa này đã có."
    assert english_in(said) == []
    kept = page.locator("input[name=device_name]").input_value()
    assert kept == "Cụm loa chợ", "the form is kept as it was"
    assert page.locator(".secret-value").count() == 0, "no claim code for a cluster not registered"


def test_a_bulletin_whose_speech_failed_says_why_in_vietnamese(
        fleet: Fleet, controller: ControllerProcess, open_page: Any) -> None:
    commune, _ = new_commune(fleet, villages=1)
    bulletin_id = f"b-{secrets.token_hex(4)}"
    database = Database(controller.env.get("LOALANG_DATABASE_URL")
                        or f"sqlite:///{controller.data_dir / 'loalang.sqlite3'}")
    with database.session() as session:  # a bulletin whose speech a stopping controller cut off
        session.add(Bulletin(id=bulletin_id, title="Họp thôn", level="normal", text="Họp thôn lúc 14 giờ.",
                             area_id=commune, status="preparing", created_by="admin"))
    speech_interrupted(database, bulletin_id)
    database.engine.dispose()
    assert fleet.http.get(f"{API}/bulletins/{bulletin_id}").json()["status"] == "failed"

    page, _ = open_page()
    page.goto(f"{controller.url}/console/#/bulletins")
    log_in(page, "admin", ADMIN_PASSWORD)
    note = page.locator(f"tr[data-bulletin={bulletin_id}] .bulletin-note")
    note.wait_for(timeout=10_000)
    said = note.inner_text()
    assert "hãy soạn lại bản tin" in said and english_in(said) == [], said
