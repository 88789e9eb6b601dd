"""The field view (/d/{device}) on a technician's phone tells the truth while a real agent plays: what
plays, by its title, from the moment it starts to the moment it ends; the modem's signal and the month's
data from telemetry; the village by name; and the recent plays."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from loalang_stack.services import ControllerProcess
from tests.browser import accessibility_violations, fact
from tests.testkit import (
    ADMIN_PASSWORD,
    Fleet,
    modem_stub,
    new_commune,
    receipts,
    upload_media,
    wait_for,
    write_steps_wav,
)

pytestmark = pytest.mark.e2e

API = "/api/v1"
SIGNAL_DBM = -83
TITLE = "Thông báo tiêm phòng"
PLAY_S = 6


def log_in_field(page: Any) -> None:
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.press("input[name=password]", "Enter")
    page.locator("h1 small").wait_for(timeout=10_000)


def moment(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["occurred_at"]).timestamp()


def test_the_field_view_names_what_plays_through_the_whole_play(
        fleet: Fleet, controller: ControllerProcess, open_page: Any, tmp_path: Path) -> None:
    _, villages = new_commune(fleet, villages=1)
    device_id, config = fleet.enrolled_agent(area=villages[0])
    fleet.start(config, env=modem_stub(tmp_path / "modem", SIGNAL_DBM))
    wait_for(lambda: fleet.online(device_id), 10.0, what="online")
    steps = [300.0 + 50 * i for i in range(PLAY_S)]  # one tone a second
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "tin.wav", steps))
    wait_for(lambda: (fleet.device(device_id)["telemetry"] or {}).get("signal_dbm") == SIGNAL_DBM, 10.0,
             what="the modem's signal reported")

    page, _ = open_page(390, 740)
    page.goto(f"{controller.url}/d/{device_id}")
    log_in_field(page)
    assert fact(page, "Khu vực") == "Thôn 0", "the village by name"
    assert fact(page, "Sóng") == f"{SIGNAL_DBM} dBm · Viettel · LTE", "signal, operator and network"
    assert fact(page, "Thẻ SIM") == "sẵn sàng"
    assert "MB tháng này" in fact(page, "Dữ liệu"), fact(page, "Dữ liệu")
    assert fact(page, "Đang phát") == "Không phát"

    aired = fleet.http.post(f"{API}/broadcasts", json={"level": "normal", "device_ids": [device_id],
                                                       "title": TITLE, "media_sha256": sha})
    assert aired.status_code == 201, aired.text
    seen: list[tuple[float, str]] = []  # what the page said, and when
    while not receipts(fleet, device_id, "completed"):
        seen.append((time.time(), fact(page, "Đang phát")))
        assert time.time() < seen[0][0] + 40, "the broadcast never completed"
        time.sleep(0.25)
    [started] = receipts(fleet, device_id, "started")
    [completed] = receipts(fleet, device_id, "completed")
    during = [text for at, text in seen if moment(started) + 1.5 < at < moment(completed) - 0.5]
    assert len(during) >= PLAY_S - 2, f"the play was watched throughout: {seen}"
    assert set(during) == {f"{TITLE} (thường)"}, f"playing, by title, through the whole play: {seen}"

    wait_for(lambda: fact(page, "Đang phát") == "Không phát", 5.0, what="not playing once it ended")
    plays = page.locator("main h2:text-is('Đã phát gần đây') + div li")
    wait_for(lambda: plays.filter(has_text="Phát xong").filter(has_text=TITLE).count() == 1, 5.0,
             what="the play among the recent plays")
    assert plays.filter(has_text="Bắt đầu phát").filter(has_text=TITLE).count() == 1, plays.all_inner_texts()
    assert started["data"]["occurrence"] not in page.locator("main").inner_text(), "titles, never ids"
    assert accessibility_violations(page) == []
