"""Bulletins from draft to air: approval where the area asks for it, a weekly schedule in local time,
quiet hours refused unless overridden, and three agents playing the occurrence together."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.testkit import (
    Fleet,
    quiet_free_hour,
    receipts,
    tone_onset,
    upload_media,
    user_client,
    wait_for,
    wait_job,
    write_steps_wav,
)

pytestmark = pytest.mark.e2e

API = "/api/v1"
VN = ZoneInfo("Asia/Ho_Chi_Minh")
PASSWORD = "mat-khau-dai-du"


def local(instant: float) -> datetime:
    return datetime.fromtimestamp(instant, VN)


@pytest.fixture
def village(fleet: Fleet) -> Iterator[str]:
    """A village of its own under xa-mot that requires approval; its schedules are stopped afterwards,
    and its approval and quiet hours end (the shared commune's broadcasts reach it, and would need
    approval too, and would be refused in its quiet hours)."""
    area_id = f"thon-lich-{secrets.token_hex(3)}"
    created = fleet.http.post(f"{API}/areas", json={"id": area_id, "name": "Thôn Lịch", "level": "village",
                                                     "parent_id": "xa-mot", "approval": "required"})
    assert created.status_code == 201, created.text
    yield area_id
    for schedule in fleet.http.get(f"{API}/schedules").json():
        if area_id in schedule["area_ids"]:
            fleet.http.delete(f"{API}/schedules/{schedule['id']}")
    # a quiet hour left here would refuse, in that hour, every later test's schedule on the commune
    fleet.http.patch(f"{API}/areas/{area_id}", json={"approval": "none", "quiet_start": None,
                                                     "quiet_end": None}).raise_for_status()


def bulletin_for(fleet: Fleet, tmp_path: Path, area_id: str, frequency: float = 440.0) -> dict[str, Any]:
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "tin.wav", [frequency] * 2))
    created = fleet.http.post(f"{API}/bulletins", json={"title": "Bản tin thử", "media_sha256": sha,
                                                        "area_id": area_id})
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def test_a_weekly_bulletin_is_approved_scheduled_and_played_by_three_agents(
        fleet: Fleet, controller: ControllerProcess, village: str, tmp_path: Path) -> None:
    agents = [fleet.enrolled_agent(area=village) for _ in range(3)]
    for _, config in agents:
        fleet.start(config)
    bulletin = bulletin_for(fleet, tmp_path, village)
    assert bulletin["status"] == "draft"
    start = local(time.time() + 60).replace(microsecond=0)
    weekly = {"kind": "weekly", "start_local": start.strftime("%Y-%m-%dT%H:%M:%S"),
              "weekdays": [start.weekday()], "area_ids": [village]}
    early = fleet.http.post(f"{API}/bulletins/{bulletin['id']}/schedules", json=weekly)
    assert early.status_code == 409 and "approved" in early.text, "a draft cannot be scheduled"

    submitted = fleet.http.post(f"{API}/bulletins/{bulletin['id']}/submit").json()
    assert submitted["status"] == "pending", "the village requires approval"
    own = fleet.http.post(f"{API}/bulletins/{bulletin['id']}/approve", json={})
    assert own.status_code == 403, "nobody approves their own bulletin"
    with user_client(fleet, "approver", "xa-mot")[0] as approver:
        pending = approver.get(f"{API}/bulletins", params={"status": "pending"}).json()
        assert bulletin["id"] in {b["id"] for b in pending}
        approved = approver.post(f"{API}/bulletins/{bulletin['id']}/approve", json={"note": "Được"})
        assert approved.status_code == 200 and approved.json()["status"] == "approved"
        assert approver.post(f"{API}/bulletins/{bulletin['id']}/schedules", json=weekly).status_code == 403

    for device_id, _ in agents:
        wait_for(lambda d=device_id: fleet.online(d), 10.0, what="online")
    start = local(time.time() + 8).replace(microsecond=0)  # time enough to fetch the recording
    weekly |= {"start_local": start.strftime("%Y-%m-%dT%H:%M:%S"), "weekdays": [start.weekday()]}
    scheduled = fleet.http.post(f"{API}/bulletins/{bulletin['id']}/schedules", json=weekly)
    assert scheduled.status_code == 201, scheduled.text
    schedule = scheduled.json()
    at = start.timestamp()
    assert schedule["next_plays_ms"][:2] == [int(at * 1000), int((at + 7 * 86400) * 1000)]
    assert "RRULE:FREQ=WEEKLY" in schedule["recurrence"]

    preview = fleet.http.get(f"{API}/schedule-preview", params={"area_id": village,
                                                                "date": start.date().isoformat()}).json()
    ours = [p for p in preview if p["schedule_id"] == schedule["id"]]
    assert [(p["start_local"], p["quiet"]) for p in ours] == [(start.strftime("%H:%M"), False)]

    for device_id, config in agents:
        card = config_file.load(config).data_dir / "card"
        onset = wait_for(lambda c=card: tone_onset(c, 440), at - time.time() + 5, what=f"{device_id} playing")
        assert abs(onset - at) < 0.3, f"{device_id} started {onset - at:+.3f} s from the schedule"
        wait_for(lambda d=device_id: receipts(fleet, d, "completed"), 10.0, what="completed receipt")
    audit = {e["action"] for e in fleet.http.get(f"{API}/audit", params={"limit": 100}).json()}
    assert {"bulletin.create", "bulletin.submit", "bulletin.approve", "schedule.create"} <= audit


def test_quiet_hours_are_refused_unless_overridden(fleet: Fleet, village: str, tmp_path: Path) -> None:
    quiet_from = local(time.time() + 7200).replace(minute=0, second=0, microsecond=0)
    quiet_to = quiet_from + timedelta(hours=1)
    changed = fleet.http.patch(f"{API}/areas/{village}", json={
        "quiet_start": quiet_from.strftime("%H:%M"), "quiet_end": quiet_to.strftime("%H:%M")})
    assert changed.status_code == 200, changed.text
    bulletin = bulletin_for(fleet, tmp_path, village)
    fleet.http.patch(f"{API}/areas/{village}", json={"approval": "none"})
    assert fleet.http.post(f"{API}/bulletins/{bulletin['id']}/submit").json()["status"] == "approved"
    ten_past = (quiet_from + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M")
    in_quiet = {"kind": "once", "start_local": ten_past, "area_ids": [village]}
    refused = fleet.http.post(f"{API}/bulletins/{bulletin['id']}/schedules", json=in_quiet)
    assert refused.status_code == 422 and "quiet hours" in refused.json()["detail"]
    allowed = fleet.http.post(f"{API}/bulletins/{bulletin['id']}/schedules",
                              json={**in_quiet, "quiet_override": True})
    assert allowed.status_code == 201, allowed.text
    preview = fleet.http.get(f"{API}/schedule-preview", params={
        "area_id": village, "date": quiet_from.date().isoformat()}).json()
    play = next(p for p in preview if p["schedule_id"] == allowed.json()["id"])
    assert play["quiet"] is True and play["quiet_override"] is True
    entry = next(e for e in fleet.http.get(f"{API}/audit", params={"limit": 50}).json()
                 if e["action"] == "schedule.create" and allowed.json()["id"] in e["targets"])
    assert entry["detail"]["quiet_override"] is True and entry["detail"]["quiet_plays"] == 1


def test_a_commune_operator_schedules_only_inside_its_commune(fleet: Fleet, controller: ControllerProcess,
                                                              tmp_path: Path) -> None:
    with user_client(fleet, "operator", "xa-mot")[0] as operator:
        sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "a.wav", [500.0]))
        bulletin = operator.post(f"{API}/bulletins", json={"title": "Tin xã", "media_sha256": sha}).json()
        assert bulletin["area_id"] == "xa-mot"
        assert operator.post(f"{API}/bulletins/{bulletin['id']}/submit").json()["status"] == "approved"
        at = (local(time.time()) + timedelta(days=2)).replace(hour=quiet_free_hour(), minute=0)
        start = at.strftime("%Y-%m-%dT%H:%M")
        other = operator.post(f"{API}/bulletins/{bulletin['id']}/schedules",
                              json={"kind": "once", "start_local": start, "area_ids": ["thon-c"]})
        assert other.status_code == 403, "thon-c belongs to another commune"
        mine = operator.post(f"{API}/bulletins/{bulletin['id']}/schedules",
                             json={"kind": "once", "start_local": start, "area_ids": ["thon-b"]})
        assert mine.status_code == 201, mine.text
        assert operator.post(f"{API}/bulletins", json={"title": "x", "media_sha256": sha,
                                                       "area_id": "xa-hai"}).status_code == 403
        moved = operator.put(f"{API}/schedules/{mine.json()['id']}",
                             json={"kind": "once", "start_local": start, "area_ids": ["thon-c"]})
        assert moved.status_code == 403, "an edit cannot reach another commune either"
        assert operator.delete(f"{API}/schedules/{mine.json()['id']}").status_code == 204


def test_an_edited_schedule_plays_at_its_new_time_only(fleet: Fleet, village: str, tmp_path: Path) -> None:
    device_id, config = fleet.enrolled_agent(area=village)
    fleet.start(config)
    fleet.http.patch(f"{API}/areas/{village}", json={"approval": "none"})
    bulletin = bulletin_for(fleet, tmp_path, village, frequency=550.0)
    assert fleet.http.post(f"{API}/bulletins/{bulletin['id']}/submit").json()["status"] == "approved"
    wait_for(lambda: fleet.online(device_id), 10.0, what="online")
    first = local(time.time() + 6).replace(microsecond=0)
    once = {"kind": "once", "start_local": first.strftime("%Y-%m-%dT%H:%M:%S"), "area_ids": [village]}
    old = fleet.http.post(f"{API}/bulletins/{bulletin['id']}/schedules", json=once).json()

    past = fleet.http.put(f"{API}/schedules/{old['id']}", json={**once, "start_local": "2020-01-01T08:00"})
    assert past.status_code == 422 and "no play" in past.json()["detail"]
    active = {s["id"] for s in fleet.http.get(f"{API}/schedules").json()}
    assert old["id"] in active, "a refused edit leaves the schedule as it was"
    moved_to = first + timedelta(seconds=5)
    edited = fleet.http.put(f"{API}/schedules/{old['id']}",
                            json={**once, "start_local": moved_to.strftime("%Y-%m-%dT%H:%M:%S")})
    assert edited.status_code == 200, edited.text
    assert edited.json()["next_plays_ms"] == [int(moved_to.timestamp() * 1000)]
    active = {s["id"] for s in fleet.http.get(f"{API}/schedules").json()}
    assert edited.json()["id"] in active and old["id"] not in active
    assert fleet.http.put(f"{API}/schedules/{old['id']}", json=once).status_code == 409, "stopped already"

    card = config_file.load(config).data_dir / "card"
    onset = wait_for(lambda: tone_onset(card, 550), moved_to.timestamp() - time.time() + 5, what="the play")
    assert abs(onset - moved_to.timestamp()) < 0.3, "played at the new time, once"
    assert len(wait_for(lambda: receipts(fleet, device_id, "started"), 10.0, what="started receipt")) == 1
    audit = fleet.http.get(f"{API}/audit", params={"limit": 20}).json()
    assert any(e["action"] == "schedule.replace" and e["targets"][:2] == [old["id"], edited.json()["id"]]
               for e in audit)


def test_a_text_bulletin_is_spoken_before_it_can_be_submitted(fleet: Fleet, village: str) -> None:
    created = fleet.http.post(f"{API}/bulletins", json={
        "title": "Thông báo", "text": "Sáng mai thôn tổ chức tổng vệ sinh.", "area_id": village})
    assert created.status_code == 201, created.text
    bulletin = created.json()
    assert bulletin["status"] == "preparing" and bulletin["job_id"]
    item = wait_job(fleet, bulletin["job_id"])
    ready = fleet.http.get(f"{API}/bulletins/{bulletin['id']}").json()
    assert ready["status"] == "draft" and ready["media_sha256"] == item["sha256"]


@pytest.mark.parametrize("body, status, reason", [
    ({"kind": "weekly", "start_local": "2030-01-07T06:00", "area_ids": ["thon-a"]}, 422, "weekdays"),
    ({"kind": "once", "start_local": "2030-02-30T06:00", "area_ids": ["thon-a"]}, 422, "start_local"),
    ({"kind": "once", "start_local": "2030-01-07 06:00", "area_ids": ["thon-a"]}, 422, "start_local"),
    ({"kind": "once", "start_local": "2030-01-07T06:00", "area_ids": []}, 422, "target"),
    ({"kind": "once", "start_local": "2030-01-07T06:00", "area_ids": ["khong-co"]}, 422, "no such area"),
    ({"kind": "once", "start_local": "2020-01-07T06:00", "area_ids": ["thon-a"]}, 422, "no play"),
    ({"kind": "rrule", "start_local": "2030-01-07T06:00", "rule": "FREQ=MINUTELY", "area_ids": ["thon-a"]},
     422, "FREQ"),
    ({"kind": "daily", "start_local": "2030-01-07T06:00", "until_local": "2029-01-01",
      "area_ids": ["thon-a"]}, 422, "before"),
    ({"kind": "hourly", "start_local": "2030-01-07T06:00", "area_ids": ["thon-a"]}, 422, "kind"),
    ({"kind": "once", "start_local": "2030-01-07T06:00", "area_ids": ["thon-a"], "extra": 1}, 422, "extra"),
])
def test_bad_schedules_are_refused_with_the_reason(fleet: Fleet, tmp_path: Path, body: dict[str, Any],
                                                   status: int, reason: str) -> None:
    bulletin = bulletin_for(fleet, tmp_path, "thon-a")
    fleet.http.post(f"{API}/bulletins/{bulletin['id']}/submit")
    response = fleet.http.post(f"{API}/bulletins/{bulletin['id']}/schedules", json=body)
    assert response.status_code == status, response.text
    assert reason in response.text


STATION = "http://radio.example.vn/vov1.mp3"


@pytest.mark.parametrize("body, reason", [
    ({"relay_url": STATION}, "duration_ms"),
    ({"relay_url": STATION, "duration_ms": 1000}, "greater than or equal"),
    ({"relay_url": STATION, "duration_ms": 90_000_000}, "less than or equal"),
    ({"relay_url": "ftp://radio.example.vn/a.mp3", "duration_ms": 600_000}, "http"),
    ({"relay_url": "file:///etc/passwd", "duration_ms": 600_000}, "http"),
    ({"relay_url": "http://radio example/a", "duration_ms": 600_000}, "spaces"),
    ({"relay_url": "http://" + "a" * 2100, "duration_ms": 600_000}, "at most"),
    ({"relay_url": STATION, "duration_ms": 600_000, "level": "emergency"}, "emergency"),
    ({"relay_url": STATION, "duration_ms": 600_000, "text": "Xin chào"}, "exactly one"),
    ({"text": "Xin chào", "duration_ms": 600_000}, "relay only"),
    ({"relay_url": STATION, "duration_ms": "ten minutes"}, "integer"),
    ({"relay_url": "http://192.168.1.10:8000/live", "duration_ms": 600_000}, "private or local"),
])
def test_bad_relay_bulletins_are_refused_with_the_reason(fleet: Fleet, body: dict[str, Any],
                                                        reason: str) -> None:
    response = fleet.http.post(f"{API}/bulletins", json={"title": "Tiếp sóng", "area_id": "thon-a", **body})
    assert response.status_code == 422, response.text
    assert reason in response.text


def test_a_relay_window_spanning_quiet_hours_is_refused(fleet: Fleet, village: str) -> None:
    fleet.http.patch(f"{API}/areas/{village}", json={"quiet_start": "12:00", "quiet_end": "13:00",
                                                     "approval": "none"}).raise_for_status()
    for hours, status in ((8, 422), (5, 201)):  # 06:00-14:00 spans the quiet hour, 06:00-11:00 does not
        relay = fleet.http.post(f"{API}/bulletins", json={
            "title": "Tiếp sóng buổi sáng", "level": "background", "area_id": village, "relay_url": STATION,
            "duration_ms": hours * 3_600_000}).json()
        assert fleet.http.post(f"{API}/bulletins/{relay['id']}/submit").json()["status"] == "approved"
        response = fleet.http.post(f"{API}/bulletins/{relay['id']}/schedules", json={
            "kind": "daily", "start_local": "2030-01-07T06:00", "area_ids": [village]})
        assert response.status_code == status, response.text
    assert "quiet hours" in fleet.http.post(f"{API}/bulletins/{relay['id']}/schedules", json={
        "kind": "daily", "start_local": "2030-01-07T10:00", "area_ids": [village]}).json()["detail"]
