"""Fleet start-up and broker-restart storm, measured on the real stack.

Starts the project's own Mosquitto (or, with `--broker nats`, a three-node NATS cluster), Redis
and controller, enrols N simulated receivers (one process, `receiver-agent simulate`), waits until
all are online, restarts the broker (on NATS: kills the first node, the one the receivers know,
with SIGKILL and starts it again) and measures how the fleet comes back. Prints one JSON line of
results.

    .venv/bin/python -m benchmarks.reconnect_storm --count 200
    .venv/bin/python -m benchmarks.reconnect_storm --count 200 --broker nats
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx

from benchmarks.stack import (
    BROKERS,
    PASSWORD,
    SETTINGS,
    broker_label,
    broker_stack,
    jetstream_load,
    machine,
    rss_mb,
    take_broker_down,
)


def _devices(http: httpx.Client, prefix: str) -> list[dict]:
    return [d for d in http.get("/api/v1/devices", params={"q": prefix, "limit": 5000}).json()
            if d["id"].startswith(prefix)]


def _wait(predicate, timeout: float) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError
        time.sleep(0.5)
    return time.monotonic() - start


def run(count: int, broker: str) -> dict[str, object]:
    """Measure one storm with count receivers."""
    root = Path(tempfile.mkdtemp(prefix="loalang-bench-"))
    results: dict[str, object] = {"count": count}
    with broker_stack(root, broker, {**SETTINGS, "LOALANG_DEVICE_KEEPALIVE_S": "30"}) as stack:
        results["broker"] = broker_label(stack)
        assert stack.controller is not None
        http = httpx.Client(base_url=stack.controller.url, timeout=60)
        token = http.post("/api/v1/auth/token", data={"username": "admin", "password": PASSWORD}).json()
        http.headers["Authorization"] = f"Bearer {token['access_token']}"
        for area_id, level, parent in (("p", "province", None), ("c", "commune", "p"), ("v", "village", "c")):
            http.post("/api/v1/areas", json={"id": area_id, "name": area_id, "level": level,
                                             "parent_id": parent})
        simulator = stack.start_simulator(count, ["v"], PASSWORD,
                                          ["--prefix", "b", "--telemetry-interval", "30"],
                                          data_dir=root / "sim", log_level="WARNING", stop_timeout=30)
        started = time.monotonic()
        _wait(lambda: any((root / "sim").glob(f"b-{count}/agent.toml")), 3600)
        results["enrol_s_per_device"] = round((time.monotonic() - started) / count, 3)
        results["all_online_after_enrolment_s"] = round(
            _wait(lambda: sum(d["online"] for d in _devices(http, "b-")) == count, 600), 1)
        assert simulator.process is not None
        results["simulator_rss_mb"] = rss_mb(simulator.process.pid)
        results["jetstream"] = jetstream_load(stack)
        before = {d["id"]: d["presence"]["connection"] for d in _devices(http, "b-")}
        restarted = time.time()
        results["broker_down"] = take_broker_down(stack)

        def back() -> bool:
            devices = _devices(http, "b-")
            return len(devices) == count and all(
                d["online"] and d["presence"]["connection"] > before[d["id"]] for d in devices)

        results["all_back_after_broker_restart_s"] = round(_wait(back, 600), 1)
        times = sorted(datetime.fromisoformat(d["presence"]["connected_at"]).timestamp() - restarted
                       for d in _devices(http, "b-"))
        per_second = Counter(int(t) for t in times)
        results["reconnect_first_s"] = round(times[0], 2)
        results["reconnect_last_s"] = round(times[-1], 2)
        results["reconnect_busiest_second"] = max(per_second.values())
    results["machine"] = machine()
    return results


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--broker", choices=BROKERS, default="mosquitto",
                        help="the project's Mosquitto, or a three-node NATS cluster")
    args = parser.parse_args()
    print(json.dumps(run(args.count, args.broker)))


if __name__ == "__main__":
    main()
