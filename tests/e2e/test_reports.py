"""Reports come from the devices' signed receipts: a bulletin plays, and the plays report, its CSV,
the bulletin's delivery, the devices' uptime and the provincial export all say so."""

from __future__ import annotations

import csv
import io
import secrets
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.testkit import Fleet, receipts, upload_media, wait_for, write_steps_wav

pytestmark = pytest.mark.e2e

API = "/api/v1"
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def test_a_played_bulletin_appears_in_every_report(fleet: Fleet, tmp_path: Path) -> None:
    village = f"thon-bao-cao-{secrets.token_hex(3)}"
    fleet.http.post(f"{API}/areas", json={"id": village, "name": "Thôn Báo Cáo", "level": "village",
                                          "parent_id": "xa-mot"}).raise_for_status()
    agents = [fleet.enrolled_agent(area=village) for _ in range(2)]
    for _, config in agents:
        fleet.start(config)
    for device_id, _ in agents:
        wait_for(lambda d=device_id: fleet.online(d), 10.0, what="online")
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "tin.wav", [500.0]))
    bulletin = fleet.http.post(f"{API}/bulletins", json={"title": "Tin =1+1 của thôn", "media_sha256": sha,
                                                         "area_id": village}).json()
    fleet.http.post(f"{API}/bulletins/{bulletin['id']}/submit").raise_for_status()
    start = datetime.fromtimestamp(time.time() + 8, VN).strftime("%Y-%m-%dT%H:%M:%S")
    schedule = fleet.http.post(f"{API}/bulletins/{bulletin['id']}/schedules", json={
        "kind": "once", "start_local": start, "area_ids": [village], "quiet_override": True}).json()
    for device_id, _ in agents:
        wait_for(lambda d=device_id: receipts(fleet, d, "completed"), 30.0, what=f"{device_id} played")

    report = fleet.http.get(f"{API}/reports/plays", params={"area_id": village}).json()
    rows = [r for r in report["plays"] if r["bulletin_id"] == bulletin["id"]]
    assert sorted(r["device_id"] for r in rows) == sorted(d for d, _ in agents)
    for row in rows:
        assert row["outcome"] == "completed" and row["schedule_id"] == schedule["id"]
        assert row["title"] == "Tin =1+1 của thôn" and row["started_at"] and row["ended_at"]
        assert abs(row["late_ms"]) < 300
    assert report["summary"]["completed"] >= 2

    exported = fleet.http.get(f"{API}/reports/plays", params={"area_id": village, "format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    mine = [r for r in table if r["bulletin_id"] == bulletin["id"]]
    assert len(mine) == 2 and {r["outcome"] for r in mine} == {"completed"}
    assert mine[0]["title"] == "Tin =1+1 của thôn", "text is kept as it is (no formula at its start)"

    delivery = fleet.http.get(f"{API}/reports/bulletins/{bulletin['id']}").json()
    assert delivery["devices"] == 2 and delivery["summary"] == {"completed": 2}

    devices = {d["device_id"]: d for d in fleet.http.get(f"{API}/reports/devices",
                                                          params={"area_id": village, "days": 1}).json()}
    for device_id, _ in agents:
        assert devices[device_id]["online"] and devices[device_id]["plays"] == {"completed": 1}
        assert 0 < devices[device_id]["uptime"]["uptime_pct"] <= 100
        assert fleet.http.get(f"{API}/devices/{device_id}/telemetry").json(), "telemetry kept for charts"
        presence = fleet.http.get(f"{API}/devices/{device_id}/presence").json()
        assert presence[0]["online"] is True and presence[0]["reason"] == "birth", presence
        events = fleet.http.get(f"{API}/devices/{device_id}/events", params={"type": "completed"}).json()
        assert [e["title"] for e in events] == ["Tin =1+1 của thôn"], "a receipt names what it aired"
    listed = {d["id"]: d for d in fleet.http.get(f"{API}/devices", params={"area": village}).json()}
    for device_id, _ in agents:
        uptime = listed[device_id]["uptime_7d_pct"]
        assert 50 < uptime <= 100, f"online since a moment after enrolment, not 7 days: {uptime}"

    export = fleet.http.get(f"{API}/reports/export", params={"area_id": village}).json()
    assert {s["station_code"] for s in export["stations"]} == {d for d, _ in agents}
    path = [a["code"] for a in export["stations"][0]["administrative_area"]]
    assert path == ["tinh-thu", "xa-mot", village]
    assert sum(1 for b in export["broadcasts"] if b["bulletin_id"] == bulletin["id"]) == 2

