"""`make demo` as a newcomer meets it: it starts, names who to log in as (an operator, an approver and a
technician besides the admin) and where to listen, its three receivers come online, Thôn Đoài waits for
approval, the map has the commune's and villages' outlines with each receiver in its village, and Ctrl-C
stops everything."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import pytest

from loalang_stack.demo import USERS
from loalang_stack.ports import free_port
from tests.testkit import login, wait_for

pytestmark = pytest.mark.e2e

API = "/api/v1"
START_S = 90.0


def inside(longitude: float, latitude: float, ring: list[list[float]]) -> bool:
    """Whether a point lies inside a ring (even-odd rule)."""
    crossings = 0
    for (x1, y1), (x2, y2) in pairwise(ring):
        if (y1 > latitude) != (y2 > latitude) and longitude < x1 + (latitude - y1) * (x2 - x1) / (y2 - y1):
            crossings += 1
    return crossings % 2 == 1


def read_until_running(process: subprocess.Popen[str]) -> str:
    """What the demo printed up to its "Press Ctrl-C" line."""
    printed: list[str] = []
    deadline = time.monotonic() + START_S
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        printed.append(line)
        if line.startswith("Press Ctrl-C"):
            return "".join(printed)
    pytest.fail(f"the demo did not start: {''.join(printed)[-2000:]}")


def test_the_demo_offers_an_approver_and_a_technician_and_says_where_to_listen(tmp_path: Path) -> None:
    http_port = free_port()
    env = {**os.environ, "LOALANG_DEMO_DIR": str(tmp_path / "demo"), "LOALANG_HTTP_PORT": str(http_port),
           "LOALANG_MQTT_PORT": str(free_port()), "LOALANG_REDIS_PORT": str(free_port()),
           "LOALANG_ADMIN_PASSWORD": secrets.token_urlsafe(12)}
    process = subprocess.Popen([sys.executable, "-m", "loalang_stack.demo"], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        printed = read_until_running(process)
        url = f"http://127.0.0.1:{http_port}"
        for username, role, _ in USERS:
            assert f"{username} / loalang-demo" in printed
            me = login(url, username, "loalang-demo").get(f"{API}/users/me").json()
            assert (me["role"], me["area_id"]) == (role, "xa-hoa-binh")
        assert f"{tmp_path / 'demo'}/receivers/sim-N/card/card.wav" in printed

        admin = login(url, "admin", env["LOALANG_ADMIN_PASSWORD"])
        areas = {area["id"]: area for area in admin.get(f"{API}/areas").json()}
        assert areas["thon-doai"]["approval"] == "required" and areas["thon-dong"]["approval"] is None
        wait_for(lambda: sum(d["online"] for d in admin.get(f"{API}/devices").json()) == 3, 30.0,
                 what="the demo's three receivers online")
        outlines = {f["properties"]["area_id"]: f["geometry"]["coordinates"][0][0]
                    for f in admin.get(f"{API}/areas/outlines").json()["features"]}
        assert set(outlines) == {"xa-hoa-binh", "thon-dong", "thon-doai"}
        for device in admin.get(f"{API}/devices").json():
            assert inside(device["longitude"], device["latitude"], outlines[device["area_id"]]), device["id"]
    finally:
        process.send_signal(signal.SIGINT)
        stopped = process.wait(timeout=30)
    assert stopped == 0
