"""Start accuracy of scheduled items, and the agent's memory and CPU, on the real stack.

Starts the project's own Mosquitto, Redis and controller and two receiver agents (separate
processes with simulated sound cards), schedules --starts tone items for their area, and measures
each start from the recorded audio (time log of the card plus the onset inside the 10 ms period).
Then plays a 32 kbit/s Opus file on one agent and samples RSS and CPU of the agent plus its ffmpeg.

    .venv/bin/python benchmarks/playout.py --starts 30
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loalang_stack import broker, redis
from loalang_stack.broker import BrokerConfig
from loalang_stack.ports import free_port
from loalang_stack.services import ControllerProcess
from receiver_agent.audio.simulated import read_recording
from tests.testkit import Fleet, upload_media

PASSWORD = "benchmark-admin-password"


def onset_near(card: Path, expected_s: float) -> float | None:
    """The first loud sample within half a second of the expected start."""
    pcm, times = read_recording(card)
    samples = np.frombuffer(pcm, dtype="<i2").astype(float).reshape(-1, 480)
    for index, (_, wall) in enumerate(times):
        if abs(wall - expected_s) > 0.5:
            continue
        loud = np.abs(samples[index]) > 1000
        if loud.any():
            return wall + int(np.argmax(loud)) / 48000
    return None


def _process_tree_usage(pid: int) -> tuple[float, float]:
    """RSS (MB) and CPU seconds of pid and its children."""
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                    text=True).stdout.split()]
    rss, cpu = 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for each in pids:
        try:
            status = Path(f"/proc/{each}/status").read_text()
            stat = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        rss += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")) / 1024
        cpu += (int(stat[11]) + int(stat[12])) / tick
    return rss, cpu


def main() -> None:
    """Run the measurements and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=30, help="items per agent (two agents)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="loalang-playout-"))
    config = BrokerConfig(root / "broker", free_port())
    mqtt, _ = broker.start(config)
    redis_port = free_port()
    redis_server = redis.start(root / "redis", redis_port)
    controller = ControllerProcess(root / "controller", free_port(), {
        "LOALANG_ENVIRONMENT": "test", "LOALANG_ADMIN_PASSWORD": PASSWORD,
        "LOALANG_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "LOALANG_MQTT_PORT": str(config.port),
        "LOALANG_MQTT_PASSWORD_FILE": str(config.password_file), "LOALANG_LOG_LEVEL": "WARNING",
    })
    controller.start()
    fleet = Fleet(controller, root / "agents", password=PASSWORD)
    result: dict[str, object] = {}
    try:
        fleet.ensure_areas()
        agents = [fleet.enrolled_agent(area="thon-a", telemetry_s=30) for _ in range(2)]
        servers = [fleet.start(cfg) for _, cfg in agents]
        time.sleep(4)
        base = int(time.time() * 1000) + 5000
        starts = [base + i * 1500 for i in range(args.starts)]
        for start in starts:
            fleet.http.post("/api/v1/occurrences", json={
                "area_id": "thon-a", "level": "normal", "start_ms": start, "duration_ms": 500,
                "source": {"type": "tone", "frequency_hz": 440}}).raise_for_status()
        time.sleep((starts[-1] - time.time() * 1000) / 1000 + 3)
        errors = []
        for _, cfg in agents:
            card = cfg.parent / "card"
            for start in starts:
                onset = onset_near(card, start / 1000)
                if onset is not None:
                    errors.append(abs(onset - start / 1000) * 1000)
        result["starts_measured"] = len(errors)
        result["start_error_ms_p50"] = round(float(np.percentile(errors, 50)), 2)
        result["start_error_ms_p99"] = round(float(np.percentile(errors, 99)), 2)
        result["start_error_ms_max"] = round(max(errors), 2)
        pid = servers[0].process.pid if servers[0].process else 0
        rss_idle, _ = _process_tree_usage(pid)
        opus = root / "speech.opus"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=f=300:d=40", "-ac", "1",
                        "-c:a", "libopus", "-b:a", "32k", str(opus)], check=True)
        sha, size = upload_media(fleet, opus)
        play_at = int(time.time() * 1000) + 8000
        fleet.http.post("/api/v1/occurrences", json={
            "device_id": agents[0][0], "level": "normal", "start_ms": play_at, "duration_ms": 40_000,
            "source": {"type": "media", "sha256": sha, "size": size}}).raise_for_status()
        time.sleep((play_at - time.time() * 1000) / 1000 + 5)
        rss_samples, (_, cpu_before), t0 = [], _process_tree_usage(pid), time.monotonic()
        for _ in range(20):
            time.sleep(1)
            rss_samples.append(_process_tree_usage(pid)[0])
        cpu_after = _process_tree_usage(pid)[1]
        result["rss_idle_mb"] = round(rss_idle, 1)
        result["rss_playing_mb_max"] = round(max(rss_samples), 1)
        elapsed = time.monotonic() - t0
        result["cpu_playing_percent_of_one_core"] = round(100 * (cpu_after - cpu_before) / elapsed, 1)
    finally:
        fleet.close()
        controller.stop()
        redis_server.stop()
        mqtt.stop()
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
