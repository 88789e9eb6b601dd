"""Screenshots of the console's main pages, desktop and phone, for docs/screenshots/.

Starts the project's own broker, Redis and controller with a small commune (two villages, five
clusters, four of them running as simulated receivers), a scheduled bulletin and a broadcast on
the air, then opens each page in Debian's Chromium and saves it.

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from stack import PASSWORD, live_stack  # noqa: E402

from tests.browser import chromium, log_in  # noqa: E402
from tests.testkit import Fleet, wait_for, write_steps_wav  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
AREAS = [("tinh-nghe-an", "Tỉnh Nghệ An", "province", None),
         ("xa-hoa-binh", "Xã Hòa Bình", "commune", "tinh-nghe-an"),
         ("thon-dong", "Thôn Đông", "village", "xa-hoa-binh"),
         ("thon-doai", "Thôn Đoài", "village", "xa-hoa-binh")]
CLUSTERS = [("thon-dong", "Loa cổng làng Đông", 18.7052, 105.5951),
            ("thon-dong", "Loa nhà văn hoá Đông", 18.7071, 105.5987),
            ("thon-dong", "Loa chợ Đông", 18.7030, 105.5922),
            ("thon-doai", "Loa đình Đoài", 18.6951, 105.6049),
            ("thon-doai", "Loa bến đò Đoài", 18.6921, 105.6085)]
DESKTOP = [("dashboard", "#/"), ("devices", "#/devices"), ("device", "#/devices/{device}"),
           ("media", "#/media"), ("bulletins", "#/bulletins"), ("schedule", "#/schedule"),
           ("broadcast", "#/broadcast"), ("live", "#/live"), ("emergency", "#/emergency"),
           ("reports", "#/reports"), ("admin", "#/admin")]
PHONE = [("phone-field-view", "/d/{device}"), ("phone-dashboard", "/console/#/"),
         ("phone-devices", "/console/#/devices"), ("phone-emergency", "/console/#/emergency")]


def seed(fleet: Fleet, folder: Path) -> str:
    """The commune, its clusters (four running), a daily bulletin and one on the air; returns a cluster."""
    for area_id, name, level, parent in AREAS:
        fleet.http.post("/api/v1/areas", json={"id": area_id, "name": name, "level": level,
                                               "parent_id": parent}).raise_for_status()
    devices = []
    for index, (area, name, lat, lon) in enumerate(CLUSTERS):
        device_id, config = fleet.enrolled_agent(area=area, telemetry_s=5.0, position=(lat, lon), name=name)
        if index < 4:
            fleet.start(config)
        devices.append(device_id)
    for device_id in devices[:4]:
        wait_for(lambda d=device_id: fleet.online(d), 20.0, what=f"{device_id} online")
    with write_steps_wav(folder / "nhac-hieu.wav", [523.0, 659.0, 784.0] * 4).open("rb") as wav:
        job = fleet.http.post("/api/v1/media", files={"file": ("nhac-hieu.wav", wav, "audio/wav")},
                              data={"title": "Nhạc hiệu đài xã"}).json()["job_id"]
    sha = wait_for(lambda: fleet.http.get(f"/api/v1/jobs/{job}").json().get("result"), 60.0)["sha256"]
    bulletin = fleet.http.post("/api/v1/bulletins", json={"title": "Bản tin sáng", "media_sha256": sha,
                                                          "area_id": "xa-hoa-binh"}).json()
    fleet.http.post(f"/api/v1/bulletins/{bulletin['id']}/submit").raise_for_status()
    fleet.http.post(f"/api/v1/bulletins/{bulletin['id']}/schedules", json={
        "kind": "daily", "start_local": time.strftime("%Y-%m-%dT06:30"), "area_ids": ["xa-hoa-binh"],
        "quiet_override": True}).raise_for_status()
    fleet.http.post("/api/v1/broadcasts", json={"level": "priority", "area_ids": ["thon-dong"],
                                                "media_sha256": sha, "title": "Thông báo họp thôn"})
    time.sleep(6)  # on the air by now
    return devices[0]


def shoot(browser: Any, url: str, pages: list[tuple[str, str]], device: str, size: tuple[int, int]) -> None:
    """Log in once and save each page."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, device_scale_factor=1,
                                  timezone_id="Asia/Ho_Chi_Minh", locale="vi-VN")
    page = context.new_page()
    page.goto(f"{url}/console/")
    log_in(page, "admin", PASSWORD)
    for name, address in pages:
        target = address.format(device=device)
        page.goto(url + (target if target.startswith("/") else f"/console/{target}"))
        page.wait_for_timeout(2500)  # the page's data, the map's dots
        page.screenshot(path=str(OUT / f"{name}.png"), full_page=name != "dashboard")
        print(f"saved {name}.png", flush=True)
    context.close()


def main() -> None:
    """Take the screenshots."""
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="loalang-shots-") as folder, live_stack(Path(folder)) as stack:
        device = seed(stack.fleet, Path(folder))
        with chromium() as browser:
            shoot(browser, stack.controller.url, DESKTOP, device, (1280, 800))
            shoot(browser, stack.controller.url, PHONE, device, (360, 740))


if __name__ == "__main__":
    main()
