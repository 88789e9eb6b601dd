"""Start accuracy of scheduled items, and the agent's memory and CPU, on the real stack.

Starts the project's own Mosquitto, Redis and controller and two receiver agents (separate
processes with simulated sound cards), schedules --starts tone items for their area, and measures
each start from the recorded audio (time log of the card plus the onset inside the 10 ms period).
Then a third agent plays a 32 kbit/s Opus file while memory and CPU of the agent plus its ffmpeg
are sampled; the CPU of the simulated card's clock thread (which writes the recording, and which
a board's ALSA driver replaces) is counted apart.

    .venv/bin/python -m benchmarks.playout --starts 30
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.stack import live_stack, machine
from receiver_agent.audio.simulated import THREAD_NAME, read_recording
from tests.testkit import Fleet, upload_media


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


def _tree(pid: int) -> list[int]:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid] + [int(child) for child in children]


def _cpu_seconds(stat_path: Path) -> tuple[str, float]:
    """A process's or thread's name and its user + system CPU seconds."""
    text = stat_path.read_text()
    name = text[text.index("(") + 1: text.rindex(")")]
    fields = text.rsplit(")", 1)[1].split()
    return name, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _process_tree_usage(pid: int) -> dict[str, float]:
    """Memory (MB) and CPU seconds of the agent and its ffmpeg.

    rss counts every resident page; anon only the process's own memory (file-backed pages of shared
    libraries are left out: they are clean and the kernel reclaims them under pressure). cpu leaves
    out the simulated sound card's clock thread, which a board's ALSA driver replaces; card_cpu is it.
    """
    usage = {"rss": 0.0, "anon": 0.0, "cpu": 0.0, "card_cpu": 0.0}
    for each in _tree(pid):
        try:
            status = Path(f"/proc/{each}/status").read_text()
            threads = [_cpu_seconds(task / "stat") for task in Path(f"/proc/{each}/task").iterdir()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = {line.split(":")[0]: line.split()[1] for line in status.splitlines() if line.endswith("kB")}
        usage["rss"] += int(fields["VmRSS"]) / 1024
        usage["anon"] += int(fields["RssAnon"]) / 1024
        for name, seconds in threads:
            usage["card_cpu" if name == THREAD_NAME.decode() else "cpu"] += seconds
    return usage


def measure_resources(fleet: Fleet, root: Path, result: dict[str, object]) -> None:
    """Memory idle and while playing a 32 kbit/s Opus file, and CPU while playing."""
    device_id, config = fleet.enrolled_agent(area="thon-b", telemetry_s=30)
    server = fleet.start(config)
    pid = server.process.pid if server.process else 0
    time.sleep(8)
    idle = _process_tree_usage(pid)
    opus = root / "speech.opus"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=f=300:d=40", "-ac", "1",
                    "-c:a", "libopus", "-b:a", "32k", str(opus)], check=True)
    sha, size = upload_media(fleet, opus)
    play_at = int(time.time() * 1000) + 8000
    fleet.http.post("/api/v1/occurrences", json={
        "device_id": device_id, "level": "normal", "start_ms": play_at, "duration_ms": 40_000,
        "source": {"type": "media", "sha256": sha, "size": size}}).raise_for_status()
    time.sleep((play_at - time.time() * 1000) / 1000 + 5)
    before, t0 = _process_tree_usage(pid), time.monotonic()
    samples = []
    for _ in range(20):
        time.sleep(1)
        samples.append(_process_tree_usage(pid))
    elapsed = time.monotonic() - t0
    for kind in ("rss", "anon"):
        result[f"{kind}_idle_mb"] = round(idle[kind], 1)
        result[f"{kind}_playing_mb_max"] = round(max(sample[kind] for sample in samples), 1)
    result["processes_playing"] = len(_tree(pid))
    for kind in ("cpu", "card_cpu"):
        result[f"{kind}_playing_percent_of_one_core"] = round(
            100 * (samples[-1][kind] - before[kind]) / elapsed, 2)


def main() -> None:
    """Run the measurements and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=30, help="items per agent (two agents)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="loalang-playout-"))
    result: dict[str, object] = {}
    with live_stack(root) as stack:
        fleet = stack.fleet
        fleet.ensure_areas()
        agents = [fleet.enrolled_agent(area="thon-a", telemetry_s=30) for _ in range(2)]
        for _, cfg in agents:
            fleet.start(cfg)
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
        measure_resources(fleet, root, result)
    result["machine"] = machine()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
