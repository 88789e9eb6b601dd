"""A cluster's page in a real browser: a week of telemetry drawn as charts, what it aired, its
events, and maintenance actions that ask first, reach the device and are audited."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import loalang_protocol
from controller.db.models import TelemetrySample
from controller.db.session import Database
from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.browser import accessibility_violations, log_in
from tests.testkit import ADMIN_PASSWORD, Fleet, modem_stub, new_commune, receipts, wait_for

pytestmark = pytest.mark.e2e

API = "/api/v1"
WEEK_DAYS = 7
VN = ZoneInfo("Asia/Ho_Chi_Minh")  # the areas' time zone: the console's charts are dated in it
SIGNAL_DBM = -71


def seed_week_of_telemetry(controller: ControllerProcess, device_id: str) -> datetime:
    """Samples every six hours over the past week, as a running cluster leaves them; returns the first
    sample's time. (A week cannot pass in a test: the history is written where the controller keeps it.)"""
    url = controller.env.get("LOALANG_DATABASE_URL") or f"sqlite:///{controller.data_dir / 'loalang.sqlite3'}"
    database = Database(url)
    first = datetime.now() - timedelta(days=WEEK_DAYS) + timedelta(hours=1)
    with database.session() as session:
        for step in range(WEEK_DAYS * 4):
            at = first + timedelta(hours=6 * step)
            session.add(TelemetrySample(
                device_id=device_id, at_ms=int(at.timestamp() * 1000), uptime_s=step * 21_600.0,
                load1=0.2, mem_used_pct=40.0, disk_free_mb=900.0, cpu_temp_c=45.0 + step % 5,
                signal_dbm=-80.0 + step % 9, data_month_bytes=step * 3_000_000))
    database.engine.dispose()
    return first


def test_the_device_page_charts_a_week_and_its_actions_ask_reach_the_device_and_are_audited(
        fleet: Fleet, controller: ControllerProcess, open_page: Any, tmp_path: Path) -> None:
    _, villages = new_commune(fleet, villages=1)
    device_id, config = fleet.enrolled_agent(area=villages[0])
    fleet.start(config, env=modem_stub(tmp_path / "modem", SIGNAL_DBM))
    wait_for(lambda: fleet.online(device_id), 10.0, what="online")
    aired = fleet.http.post(f"{API}/broadcasts", json={"level": "normal", "device_ids": [device_id],
                                                       "title": "Bản tin sáng", "text": "Xin chào bà con."})
    assert aired.status_code == 201, aired.text
    first = seed_week_of_telemetry(controller, device_id)
    wait_for(lambda: receipts(fleet, device_id, "completed"), 30.0, what="the bulletin aired")
    wait_for(lambda: fleet.device(device_id)["telemetry"].get("signal_dbm") == SIGNAL_DBM, 10.0,
             what="the modem's signal reported")

    page, _ = open_page()
    page.goto(f"{controller.url}/console/#/devices/{device_id}")
    log_in(page, "admin", ADMIN_PASSWORD)
    page.locator(".charts").wait_for(timeout=10_000)
    charts = page.locator(".charts figure")
    assert charts.count() == 3
    for index in range(3):
        assert charts.nth(index).locator("svg path").count() == 1, charts.nth(index).inner_text()
    first_in_vietnam = first.astimezone(VN)
    first_day = f"{first_in_vietnam.day}/{first_in_vietnam.month}"
    assert page.locator(".charts svg text", has_text=first_day).count() == 3, "each chart starts a week ago"
    facts = page.locator(".facts")
    assert f"{SIGNAL_DBM} dBm · Viettel · LTE" in facts.inner_text(), "the modem's signal, operator, network"
    assert "Thẻ SIM\nsẵn sàng" in facts.inner_text()
    assert f"Phiên bản phần mềm\n{loalang_protocol.__version__}" in facts.inner_text()
    aired_list = page.locator("section", has_text="Đã phát gần đây").locator("li")
    assert aired_list.filter(has_text="Phát xong").filter(has_text="Bản tin sáng").count() == 1, \
        aired_list.all_inner_texts()
    happenings = page.locator("section", has_text="Sự kiện").locator("li")
    assert happenings.filter(has_text="Trực tuyến").filter(has_text="đã kết nối").count() >= 1, \
        happenings.all_inner_texts()
    assert accessibility_violations(page) == []

    volume_field = page.locator("input[name=volume]")
    volume_field.fill("")  # an empty field is refused at the field, never read as 0
    page.get_by_role("button", name="Đặt âm lượng").click()
    assert page.locator("dialog").count() == 0, "nothing is asked of an empty volume"
    assert "0 đến 100" in volume_field.evaluate("field => field.validationMessage")
    assert fleet.device(device_id)["volume"] != 0
    volume_field.fill("35")
    page.get_by_role("button", name="Đặt âm lượng").click()
    assert "35%" in page.get_by_role("dialog").inner_text(), "the confirmation shows the number"
    page.get_by_role("dialog").get_by_role("button", name="Huỷ").click()  # asked first: nothing sent
    assert wait_for(lambda: page.locator("dialog").count() == 0, 5.0, what="the dialog closed")
    assert fleet.device(device_id)["volume"] != 35
    page.get_by_role("button", name="Đặt âm lượng").click()
    page.get_by_role("dialog").get_by_role("button", name="Xác nhận").click()
    wait_for(lambda: (fleet.device(device_id).get("telemetry") or {}).get("volume") == 35, 15.0,
             what="the agent playing at the new volume")

    page.get_by_role("button", name="Bật khuếch đại").click()
    page.get_by_role("dialog").get_by_role("button", name="Xác nhận").click()
    page.locator("#toast", has_text="Bật khuếch đại:").wait_for(timeout=15_000)  # the device's reply
    relay = config_file.load(config).data_dir / "amplifier"
    assert relay.read_text().strip() == "1", "the amplifier is on (for its hold time)"
    audit = fleet.http.get(f"{API}/audit", params={"limit": 50}).json()
    actions = {e["action"] for e in audit if device_id in e["targets"]}
    assert {"device.volume", "device.command"} <= actions, actions
