"""The controller with 5,000 devices: device-list latency, the dashboard's reading of every cluster, and a
full expansion of a week of schedules.

Starts the project's own Mosquitto, Redis and controller, builds an area tree (1 province, 5
regions, 100 communes, 500 villages), registers the devices through the API (10 per village),
writes their presence into Redis as births would (and telemetry saying every tenth plays) and a
week of presence changes into the database (for the uptime each listed device shows), then:

1. times `GET /api/v1/devices?area=<commune>&limit=50` (one page of a commune) many times;
2. times the dashboard's reading of every cluster: `GET /api/v1/fleet/overview`, and the full
   device list it used to read (`GET /api/v1/devices?limit=5000`);
3. gives every village and commune a daily schedule, waits until the scheduler has expanded them,
   then deletes every scheduled occurrence from the database and tells the scheduler that
   schedules changed: the time until it has written and published the week again is the figure.

    .venv/bin/python -m benchmarks.api_scale --devices 5000
    .venv/bin/python -m benchmarks.api_scale --devices 10000 --dashboard-only   # step 2 alone
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from redis.asyncio import Redis

from benchmarks.stack import PASSWORD, SETTINGS, machine
from controller.presence import PresenceStore
from controller.scheduling.scheduler import note_change
from loalang_protocol.messages import DeviceStatus, HeldVersions, Telemetry
from loalang_stack.stack import running
from tests.testkit import write_steps_wav

REGIONS, COMMUNES_PER_REGION, VILLAGES_PER_COMMUNE = 5, 20, 5
PLAYING_EVERY = 10  # every tenth device's telemetry says it plays


def build_tree(http: httpx.Client) -> tuple[list[str], list[str]]:
    """The area tree; returns the communes and the villages."""
    http.post("/api/v1/areas", json={"id": "tinh", "name": "Tỉnh", "level": "province",
                                     "quiet_start": "23:59", "quiet_end": "00:00"}).raise_for_status()
    communes, villages = [], []
    for r in range(REGIONS):
        http.post("/api/v1/areas", json={"id": f"vung-{r}", "name": f"Vùng {r}", "level": "region",
                                         "parent_id": "tinh"}).raise_for_status()
        for c in range(COMMUNES_PER_REGION):
            commune = f"xa-{r}-{c}"
            http.post("/api/v1/areas", json={"id": commune, "name": commune, "level": "commune",
                                             "parent_id": f"vung-{r}"}).raise_for_status()
            communes.append(commune)
            for v in range(VILLAGES_PER_COMMUNE):
                village = f"thon-{r}-{c}-{v}"
                http.post("/api/v1/areas", json={"id": village, "name": village, "level": "village",
                                                 "parent_id": commune}).raise_for_status()
                villages.append(village)
    return communes, villages


def register(http: httpx.Client, villages: list[str], count: int) -> list[str]:
    """count devices spread over the villages."""
    devices = []
    for index in range(count):
        device_id = f"loa-{index:05d}"
        body = {"id": device_id, "name": device_id, "area_id": villages[index % len(villages)],
                "latitude": 18.6, "longitude": 105.6}
        http.post("/api/v1/devices", json=body).raise_for_status()
        devices.append(device_id)
    return devices


async def births(redis_url: str, devices: list[str]) -> None:
    """Presence as the bridge writes it when each device's birth arrives, and the telemetry of those
    that play."""
    client = Redis.from_url(redis_url)
    store = PresenceStore(client)
    now = int(time.time() * 1000)
    for index, device_id in enumerate(devices):
        status = DeviceStatus(online=True, boot=1, conn=1, install_id="i-bench", agent_version="0.1.0",
                              protocol=1, ts=now, held=HeldVersions())
        await store.apply_status(device_id, status, now)
        if index % PLAYING_EVERY == 0:
            await store.store_telemetry(device_id, Telemetry(ts=now, uptime_s=60, playing="occ-bench"))
    await client.aclose()


def week_of_history(database: Path, devices: list[str], changes_per_device: int) -> None:
    """Mark the devices enrolled 8 days ago with a week of presence changes (a drop and return each)."""
    now = int(time.time() * 1000)
    step = 7 * 86_400_000 // changes_per_device
    enrolled = datetime.fromtimestamp(now / 1000 - 8 * 86_400, UTC).replace(tzinfo=None).isoformat(sep=" ")
    rows = [(device_id, index % 2 == 0, now - 7 * 86_400_000 + index * step, "bench")
            for device_id in devices for index in range(changes_per_device)]
    with sqlite3.connect(database, timeout=30) as connection:
        connection.execute("UPDATE devices SET enrolled_at = ?", (enrolled,))
        connection.executemany(
            "INSERT INTO presence_log (device_id, online, at_ms, reason) VALUES (?, ?, ?, ?)", rows)


def page_latency(http: httpx.Client, communes: list[str], requests: int) -> dict[str, float]:
    """Latency of one page of a commune's devices."""
    timings, slow = [], []
    for index in range(requests):
        started = time.perf_counter()
        params = {"area": communes[index % len(communes)], "limit": 50}
        response = http.get("/api/v1/devices", params=params)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        if timings[-1] > 50:
            slow.append(f"{time.strftime('%H:%M:%S')} {timings[-1]:.0f} ms")
    print("slow requests:", slow, file=sys.stderr)
    timings.sort()
    return {"p50_ms": round(statistics.median(timings), 1),
            "p99_ms": round(timings[int(0.99 * len(timings))], 1), "max_ms": round(timings[-1], 1),
            "requests": requests, "devices_per_page": len(response.json())}


def dashboard_reading(http: httpx.Client, readings: int = 5) -> dict[str, float]:
    """What an open dashboard asks: every cluster (once a minute) and what is on the air (on events);
    and, to compare, the full device list it read before."""
    overview, overview_size, overview_json = timed(http, "/api/v1/fleet/overview", {}, readings)
    listed, listed_size, listed_json = timed(http, "/api/v1/devices", {"limit": 5000}, readings)
    on_air, _, _ = timed(http, "/api/v1/broadcasts", {"status": "on_air"}, readings * 4)
    return {"overview_ms": overview, "overview_kb": round(overview_size / 1000),
            "overview_clusters": len(overview_json["ids"]),
            "overview_playing": sum(1 for p in overview_json["playing"] if p),
            "device_list_ms": listed, "device_list_kb": round(listed_size / 1000),
            "device_list_clusters": len(listed_json), "on_air_ms": on_air}


def timed(http: httpx.Client, path: str, params: dict[str, str | int],
          readings: int) -> tuple[float, int, Any]:
    """The median time of readings GETs of path (ms), the size of the last answer and its JSON."""
    timings = []
    for _ in range(readings):
        started = time.perf_counter()
        response = http.get(path, params=params)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return round(statistics.median(timings), 1), len(response.content), response.json()


def schedule_everything(http: httpx.Client, areas: list[str], sha: str) -> None:
    """A daily bulletin at 06:30 for every area given."""
    start = (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(days=1)).strftime("%Y-%m-%dT06:30")
    bulletin = http.post("/api/v1/bulletins", json={"title": "Bản tin sáng", "media_sha256": sha,
                                                    "area_id": "tinh"}).json()
    http.post(f"/api/v1/bulletins/{bulletin['id']}/submit").raise_for_status()
    for area in areas:
        http.post(f"/api/v1/bulletins/{bulletin['id']}/schedules", json={
            "kind": "daily", "start_local": start, "area_ids": [area]}).raise_for_status()


def scheduled_occurrences(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return int(connection.execute("SELECT count(*) FROM occurrences WHERE schedule_id IS NOT NULL")
                   .fetchone()[0])


def settle(database: Path, log: Path, expected: int) -> None:
    """Wait until the scheduler has written every occurrence and logged nothing new for 3 s."""
    deadline = time.monotonic() + 600
    quiet_since, lines = time.monotonic(), -1
    while time.monotonic() < deadline:
        now_lines = log.read_text().count("occurrences added")
        if now_lines != lines:
            quiet_since, lines = time.monotonic(), now_lines
        if scheduled_occurrences(database) == expected and time.monotonic() - quiet_since > 3:
            return
        time.sleep(0.2)
    raise TimeoutError("the scheduler did not settle within 10 minutes")


def full_expansion(database: Path, redis_url: str, log: Path, expected: int) -> float:
    """Delete every scheduled occurrence, signal a change, time the scheduler's rewrite and publish."""
    settle(database, log, expected)
    with sqlite3.connect(database, timeout=30) as connection:
        connection.execute("DELETE FROM occurrences WHERE schedule_id IS NOT NULL")
    lines_before = log.read_text().count("occurrences added")
    started = time.monotonic()
    asyncio.run(_signal(redis_url))
    while log.read_text().count("occurrences added") == lines_before:
        if time.monotonic() - started > 600:
            raise TimeoutError("no expansion within 10 minutes")
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    if scheduled_occurrences(database) != expected:
        raise RuntimeError("the expansion wrote a different number of occurrences")
    return elapsed


async def _signal(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    await note_change(client)
    await client.aclose()


def schedules_expanded(http: httpx.Client, root: Path, redis_url: str, areas: list[str]) -> dict[str, object]:
    """A daily schedule for every area given, then the time of a full expansion of the week."""
    wav = write_steps_wav(root / "tin.wav", [440.0] * 2)
    with wav.open("rb") as source:
        upload = http.post("/api/v1/media", files={"file": ("tin.wav", source, "audio/wav")})
    job = upload.json()["job_id"]
    while (state := http.get(f"/api/v1/jobs/{job}").json())["state"] not in ("done", "failed"):
        time.sleep(0.2)
    schedule_everything(http, areas, state["result"]["sha256"])
    expected = 7 * len(areas)
    database = root / "controller" / "loalang.sqlite3"
    elapsed = full_expansion(database, redis_url, root / "controller" / "controller.log", expected)
    return {"schedules": len(areas), "occurrences_per_week": expected,
            "full_expansion_and_publish_s": round(elapsed, 2)}


def main() -> None:
    """Run the measurements and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--presence-changes", type=int, default=28, help="per device over the week")
    parser.add_argument("--dashboard-only", action="store_true",
                        help="time the dashboard's reading alone (no device pages, no schedules)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="loalang-scale-"))
    result: dict[str, object] = {"devices": args.devices}
    with running(root, {**SETTINGS, "LOALANG_LOG_LEVEL": "INFO"}) as stack:
        controller = stack.controller
        assert controller is not None
        redis_url = stack.redis_url
        http = httpx.Client(base_url=controller.url, timeout=120)
        token = http.post("/api/v1/auth/token", data={"username": "admin", "password": PASSWORD}).json()
        http.headers["Authorization"] = f"Bearer {token['access_token']}"
        communes, villages = build_tree(http)
        started = time.monotonic()
        devices = register(http, villages, args.devices)
        result["register_s_per_device"] = round((time.monotonic() - started) / args.devices, 4)
        asyncio.run(births(redis_url, devices))
        database = root / "controller" / "loalang.sqlite3"
        week_of_history(database, devices, args.presence_changes)
        result["presence_changes_per_device"] = args.presence_changes
        if not args.dashboard_only:
            result["device_page"] = page_latency(http, communes, args.requests)
        result["dashboard"] = dashboard_reading(http)
        print(json.dumps(result), file=sys.stderr)
        if not args.dashboard_only:
            result.update(schedules_expanded(http, root, redis_url, communes + villages))
    result["machine"] = machine()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
