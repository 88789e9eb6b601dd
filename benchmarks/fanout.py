"""A province's fleet on one controller: fan-out, start accuracy and stop-all, measured.

Starts the project's own Mosquitto (or, with `--broker nats`, a three-node NATS cluster), Redis
and controller (SQLite), a province of 5 communes and 10 villages, and N simulated receivers
enrolled through the real API (`receiver-agent simulate` over several processes, on the null sound
card, every 100th decoding). Once all are online and their clocks have settled:

1. the raw floor: N bare subscribers on the same broker (over as many processes, and on a cluster
   over its nodes), subscribed at QoS 0 as the receivers are (`--floor-qos 1` for QoS 1), receive
   one QoS 1 publication; the time until 99% and all have it;
2. a 2 s library file broadcast to the province: POST to `acknowledged` and to `playing` for each
   receiver (from the delivery log the console follows), split by a subscriber of its own into
   the receivers' part (POST to their `reported` at the broker) and the controller's (that report
   to `acknowledged`), and the fraction of receivers whose `started` receipt says they began
   within 20 ms of the shared instant;
3. a 60 s file on the air everywhere, then stop-all: until 99% are `stopped`;
4. the broker restarted under the fleet (on NATS: the first node killed with SIGKILL and started
   again; the receivers were given every node and spread over them, so about a third of them, and
   perhaps the controller, were on it): until every receiver is back, and what was shed;

with the controller's CPU and memory over each phase, the simulator's and the broker's CPU apart,
what the controller shed by type and, on NATS, each node's JetStream streams and consumers.
Prints one JSON line. `--root DIR` keeps the stack's files: a second run with the same DIR (and
the same broker) reuses the enrolled fleet (enrolling 10,000 takes a while).

    .venv/bin/python -m benchmarks.fanout --count 1000
    .venv/bin/python -m benchmarks.fanout --count 1000 --broker nats
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import resource
import secrets
import sqlite3
import sys
import tempfile
import threading
import time
import wave
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis as redis_client

from benchmarks.stack import (
    BROKERS,
    PASSWORD,
    SETTINGS,
    broker_label,
    broker_pids,
    device_settings,
    jetstream_load,
    machine,
    mqtt_ports,
    receivers_cut_off,
    rss_mb,
    start_broker,
    take_broker_down,
)
from loalang_protocol import topics
from loalang_protocol.mqtt import Backoff, LinkSettings, MqttLink
from loalang_stack.broker import CONTROLLER_USERNAME
from loalang_stack.ports import free_port
from loalang_stack.process import Server
from loalang_stack.stack import LocalStack

API = "/api/v1"
PROVINCE = "fan-tinh"
COMMUNES = [f"fan-xa-{n}" for n in range(1, 6)]
VILLAGES = [f"fan-thon-{n}" for n in range(1, 11)]
PREFIX = "fan"
PER_PROCESS = 2500
FLOOR_TOPIC = "loa/v1/bench/floor"  # the controller's account may use every protocol topic


# -- the stack ---------------------------------------------------------------------------------

def raise_descriptor_limit(wanted: int = 65536) -> None:
    """A socket per receiver and per floor subscriber, on both ends: more than the usual 20,000."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), max(hard, wanted)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def ports(root: Path) -> dict[str, int]:
    """The stack's ports, kept with its files (the receivers' configurations name the broker's)."""
    path = root / "ports.json"
    if path.exists():
        kept: dict[str, int] = json.loads(path.read_text())
        return kept
    chosen = {"mqtt": free_port(), "redis": free_port(), "http": free_port()}
    path.write_text(json.dumps(chosen))
    return chosen


class Stack:
    """Broker (Mosquitto or a NATS cluster), Redis and controller (with extra LOALANG_* settings)
    under root (a LocalStack, on the ports kept in root), and an admin's HTTP client; stop() stops
    them and the simulator."""

    def __init__(self, root: Path, broker: str, nats_mqtt: tuple[str, ...] = (),
                 settings: dict[str, str] | None = None) -> None:
        self.root = root
        self.ports = ports(root)
        self.servers = LocalStack(root)
        try:
            start_broker(self.servers, broker, self.ports["mqtt"], nats_mqtt)
            self.servers.start_redis(self.ports["redis"])
            self.controller = self.servers.start_controller(
                {**SETTINGS, **device_settings(self.servers), "LOALANG_DEVICE_KEEPALIVE_S": "60",
                 **(settings or {})}, self.ports["http"], timeout=120)
        except BaseException:
            self.servers.stop()
            raise
        self.http = httpx.Client(base_url=self.controller.url, timeout=120)
        token = self.http.post(f"{API}/auth/token", data={"username": "admin", "password": PASSWORD}).json()
        self.http.headers["Authorization"] = f"Bearer {token['access_token']}"

    @property
    def mqtt_port(self) -> int:
        """Where the receivers connect: Mosquitto, or the cluster's first node."""
        return self.servers.mqtt_port

    @property
    def mqtt_password(self) -> str:
        return self.servers.mqtt_password

    @property
    def controller_pid(self) -> int:
        assert self.controller.server is not None and self.controller.server.process is not None
        return self.controller.server.process.pid

    def stop(self) -> None:
        self.http.close()
        self.servers.stop()


def ensure_province(http: httpx.Client) -> None:
    """A province of 5 communes, each with 2 villages."""
    areas = [(PROVINCE, "province", None)]
    areas += [(c, "commune", PROVINCE) for c in COMMUNES]
    areas += [(v, "village", COMMUNES[i // 2]) for i, v in enumerate(VILLAGES)]
    for area_id, level, parent in areas:
        if http.get(f"{API}/areas/{area_id}").status_code == 404:
            http.post(f"{API}/areas", json={"id": area_id, "name": area_id, "level": level,
                                            "parent_id": parent}).raise_for_status()


def simulation_dir(root: Path) -> Path:
    """The receivers' files, in memory (/dev/shm when there is one): each board writes and syncs its
    own card, so thousands sharing this machine's disk would measure the disk, not the fleet. A
    symbolic link in root keeps it for a later run (until the machine restarts)."""
    link = root / "sim"
    if not link.exists():
        shm = Path("/dev/shm")
        target = Path(tempfile.mkdtemp(prefix="loalang-fanout-sim-", dir=shm if shm.is_dir() else root))
        link.symlink_to(target)
    return link


def start_simulator(root: Path, stack: Stack, count: int, processes: int) -> Server:
    """`receiver-agent simulate` over processes, on the null sound card (every 100th decoding); the
    stack stops it first."""
    return stack.servers.start_simulator(
        count, VILLAGES, PASSWORD, ["--prefix", PREFIX, "--telemetry-interval", "60",
                                    "--processes", str(processes), "--null-audio", "--decode-every", "100"],
        data_dir=simulation_dir(root), log_level="WARNING", stop_timeout=60)


def online_count(stack: Stack) -> int:
    """Receivers of the fleet online, from the controller's presence in Redis."""
    client = redis_client.Redis(port=stack.ports["redis"])
    try:
        mine = PREFIX.encode() + b"-"
        return sum(1 for member in client.zrange("loa:online", 0, -1) if member.startswith(mine))
    finally:
        client.close()


def wait(predicate: Any, timeout: float, what: str, interval: float = 1.0) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError(what)
        time.sleep(interval)
    return time.monotonic() - started


# -- CPU and memory -----------------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int, tree: bool = False) -> float:
    """CPU seconds used by the process (and its descendants still running, when tree)."""
    total = 0.0
    pids = [pid] + (descendants(pid) if tree else [])
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *descendants(child)]
    return found


class Meter:
    """CPU of the controller, of the simulator and of the broker's processes over one phase (a
    broker process that did not last the phase is left out)."""

    def __init__(self, controller_pid: int, simulator_pid: int, broker: list[int]) -> None:
        self.pids = (controller_pid, simulator_pid)
        self.started = time.monotonic()
        self.before = (cpu_s(controller_pid), cpu_s(simulator_pid, tree=True))
        self.broker_before = {pid: cpu_s(pid) for pid in broker}

    def read(self) -> dict[str, float]:
        wall = time.monotonic() - self.started
        controller, simulator = cpu_s(self.pids[0]), cpu_s(self.pids[1], tree=True)
        broker = sum(max(0.0, cpu_s(pid) - before) for pid, before in self.broker_before.items())
        return {"wall_s": round(wall, 1),
                "controller_cpu_pct": round(100 * (controller - self.before[0]) / wall),
                "simulator_cpu_pct": round(100 * (simulator - self.before[1]) / wall),
                "broker_cpu_pct": round(100 * broker / wall),
                "controller_rss_mb": rss_mb(self.pids[0])}


# -- the raw floor ------------------------------------------------------------------------------

def _floor_worker(ports: list[int], password: str, ids: list[int], qos: int, ready: Any,
                  results: Any) -> None:
    raise_descriptor_limit()

    async def main() -> None:
        arrivals: list[float] = []
        links = []
        for index in ids:
            port = ports[index % len(ports)]  # spread over a cluster's nodes, as the receivers are
            link = MqttLink(LinkSettings("127.0.0.1", port, f"floor-{index}", CONTROLLER_USERNAME, password,
                                         keepalive=120, backoff=Backoff(window=2.0)))

            async def arrived(topic: str, payload: bytes, retained: bool) -> None:
                arrivals.append(time.time())

            link.route(FLOOR_TOPIC, arrived, qos=qos)
            links.append(link)
        tasks = [asyncio.create_task(link.run()) for link in links]
        for link in links:
            async with asyncio.timeout(300):
                await link.connected.wait()
        ready.put(len(links))
        deadline = time.monotonic() + 60
        while len(arrivals) < len(links) and time.monotonic() < deadline:  # noqa: ASYNC110 - counting arrivals
            await asyncio.sleep(0.05)
        results.put(arrivals)
        for link in links:
            await link.close()
        for task in tasks:
            task.cancel()

    asyncio.run(main())


def raw_floor(ports: list[int], password: str, count: int, processes: int, qos: int) -> dict[str, float]:
    """count bare subscribers (at qos, over ports) receive one QoS 1 publication: ms until 99% and all
    have it."""
    context = multiprocessing.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    workers = [context.Process(target=_floor_worker, args=(ports, password, list(range(p, count, processes)),
                                                            qos, ready, results)) for p in range(processes)]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=600)
    time.sleep(1.0)

    async def publish() -> float:
        link = MqttLink(LinkSettings("127.0.0.1", ports[0], "floor-publisher", CONTROLLER_USERNAME, password))
        task = asyncio.create_task(link.run())
        async with asyncio.timeout(30):
            await link.connected.wait()
        sent = time.time()
        await link.publish(FLOOR_TOPIC, b"floor", qos=1)
        await link.close()
        task.cancel()
        return sent

    sent = asyncio.run(publish())
    arrivals = sorted(t for _ in workers for t in results.get(timeout=120))
    for worker in workers:
        worker.join(timeout=30)
    delays = [(t - sent) * 1000 for t in arrivals]
    return {"received": len(delays), "p99_ms": round(percentile(delays, 99), 1) if delays else -1,
            "max_ms": round(delays[-1], 1) if delays else -1}


# -- broadcasting --------------------------------------------------------------------------------

def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))]


def upload_tone(http: httpx.Client, root: Path, seconds: float, frequency: float) -> str:
    path = root / f"tone-{seconds:g}s.wav"
    t = np.arange(int(48_000 * seconds)) / 48_000
    samples = (np.sin(2 * np.pi * frequency * t) * 12_000).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48_000)
        out.writeframes(samples.tobytes())
    with path.open("rb") as data:
        answer = http.post(f"{API}/media", files={"file": (path.name, data, "audio/wav")}).json()
    job_id = answer.get("job_id")
    if job_id:
        wait(lambda: http.get(f"{API}/jobs/{job_id}").json()["state"] in ("done", "failed"), 120, "media job",
             0.5)
        answer = http.get(f"{API}/jobs/{job_id}").json()["result"]
    return str(answer["sha256"])


def delivery_log(stack: Stack, broadcast_id: str) -> list[dict[str, Any]]:
    """Every state change the controller logged for the broadcast (what the console follows)."""
    client = redis_client.Redis(port=stack.ports["redis"])
    try:
        entries = client.xrange(f"loa:delivery-log:{broadcast_id}")
    finally:
        client.close()
    return [json.loads(fields[b"event"]) for _, fields in entries]


def first_reached(log: list[dict[str, Any]], states: set[str]) -> dict[str, int]:
    """When each device first reached one of states (or a later one)."""
    reached: dict[str, int] = {}
    for event in log:
        if event["state"] in states and event["device"] not in reached:
            reached[event["device"]] = event["at_ms"]
    return reached


def spread(times: dict[str, int], since_ms: float, count: int) -> dict[str, float]:
    delays = sorted(t - since_ms for t in times.values())
    if not delays:
        return {"reached": 0}
    result = {"reached": len(delays), "p50_ms": round(percentile(delays, 50)), "max_ms": round(delays[-1])}
    if len(delays) >= math.ceil(0.99 * count):
        result["p99_of_fleet_ms"] = round(delays[math.ceil(0.99 * count) - 1])
    return result


def started_late_ms(stack: Stack, start_ms: int) -> list[int]:
    """Each receiver's `started` receipt for the broadcast: how late it says it began."""
    database = stack.root / "controller" / "loalang.sqlite3"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT data FROM device_events WHERE type = 'started'").fetchall()
    late = []
    for (data,) in rows:
        body = json.loads(data)
        if body.get("late_ms") is not None and abs(body.get("at_ms", 0) - start_ms) < 60_000:
            late.append(int(body["late_ms"]))
    return late


def broadcast(stack: Stack, sha: str) -> tuple[dict[str, Any], float]:
    """Broadcast the library file to the province now; returns it and when it was asked (epoch ms)."""
    posted = time.time() * 1000
    answer = stack.http.post(f"{API}/broadcasts", json={"level": "normal", "media_sha256": sha,
                                                        "title": "fan-out", "area_ids": [PROVINCE],
                                                        "quiet_override": True})  # any hour
    if answer.is_error:
        raise RuntimeError(f"the broadcast was refused: {answer.status_code} {answer.text}")
    created: dict[str, Any] = answer.json()
    return created, posted


class ReportWatch:
    """When each receiver's `reported` reached the broker: a subscriber of its own beside the
    controller splits POST-to-acknowledged into the receivers' part (the desired state reaching
    them and their report coming back) and the controller's (taking the report in)."""

    def __init__(self, port: int, password: str) -> None:
        self.arrivals: dict[str, float] = {}
        self._settings = LinkSettings("127.0.0.1", port, "fanout-report-watch", CONTROLLER_USERNAME, password,
                                      keepalive=120)
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> ReportWatch:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("the report watch did not connect")
        time.sleep(1.0)  # the retained reports of before are in
        self.arrivals.clear()
        return self

    def __exit__(self, *_: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    async def _run(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        link = MqttLink(self._settings)

        async def reported(topic: str, payload: bytes, retained: bool) -> None:
            device = topic.split("/")[-2]
            if not retained:
                self.arrivals.setdefault(device, time.time())

        link.route(topics.all_devices(topics.DeviceTopic.REPORTED), reported)
        task = asyncio.create_task(link.run())
        async with asyncio.timeout(60):
            await link.connected.wait()
        self._ready.set()
        await self._stop.wait()
        await link.close()
        task.cancel()


def controller_part_ms(acknowledged: dict[str, int], arrivals: dict[str, float]) -> dict[str, Any]:
    """Per receiver, from its report reaching the broker to the controller's `acknowledged`."""
    delays = sorted(at_ms - arrivals[device] * 1000 for device, at_ms in acknowledged.items()
                    if device in arrivals)
    if not delays:
        return {"count": 0}
    return {"count": len(delays), "p50_ms": round(percentile(delays, 50)),
            "p99_ms": round(percentile(delays, 99)), "max_ms": round(delays[-1])}


def measure_broadcast(stack: Stack, sha: str, count: int) -> dict[str, Any]:
    with ReportWatch(stack.mqtt_port, stack.mqtt_password) as watch:
        created, posted = broadcast(stack, sha)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            log = delivery_log(stack, created["id"])
            done = first_reached(log, {"completed", "failed", "missed", "preempted", "stopped"})
            if len(done) >= count:
                break
            time.sleep(2)
    log = delivery_log(stack, created["id"])
    acknowledged = first_reached(log, {"acknowledged", "downloading", "playing", "completed"})
    reports = {device: round(at * 1000) for device, at in watch.arrivals.items()}
    late = started_late_ms(stack, created["start_ms"])
    downloaded = [t * 1000 - posted for t in stored_receipts(stack, "downloaded", posted / 1000)]
    return {
        "downloaded": {"count": len(downloaded),
                       "p50_ms": round(percentile(downloaded, 50)) if downloaded else None,
                       "max_ms": round(downloaded[-1]) if downloaded else None},
        "margin_ms": created["start_ms"] - round(posted),
        "acknowledged": spread(acknowledged, posted, count),
        "reported_at_broker": spread(reports, posted, count),
        "report_to_acknowledged": controller_part_ms(acknowledged, watch.arrivals),
        "playing": spread(first_reached(log, {"playing"}), posted, count),
        "completed": len(first_reached(log, {"completed"})),
        "started_within_20ms": sum(1 for ms in late if abs(ms) <= 20),
        "started_receipts": len(late),
        "late_ms_p50": round(float(np.median(late))) if late else None,
        "late_ms_max": max(late, key=abs) if late else None,
    }


def stored_receipts(stack: Stack, kind: str, since_s: float, occurrence: str | None = None) -> list[float]:
    """When the controller stored each receipt of this kind since then (for one occurrence), epoch s."""
    database = stack.root / "controller" / "loalang.sqlite3"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT received_at, data FROM device_events WHERE type = ?",
                                  (kind,)).fetchall()
    stored = (datetime.fromisoformat(at).replace(tzinfo=UTC).timestamp() for at, data in rows
              if occurrence is None or json.loads(data).get("occurrence") == occurrence)
    return sorted(t for t in stored if t >= since_s)


def stopped_after(stack: Stack, occurrence_id: str) -> list[float]:
    """When the controller stored each receiver's `stopped` receipt for the occurrence (epoch s)."""
    return stored_receipts(stack, "stopped", 0.0, occurrence_id)


def fleet_connections(stack: Stack) -> dict[str, int]:
    """Each receiver's connection number, from the controller's presence in Redis (the device list
    of the API stops at 5,000)."""
    client = redis_client.Redis(port=stack.ports["redis"])
    try:
        keys = list(client.scan_iter(match=f"loa:presence:{PREFIX}-*", count=1000))
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hget(key, "conn")
            values = pipe.execute()
    finally:
        client.close()
    return {key.decode().removeprefix("loa:presence:"): int(value)
            for key, value in zip(keys, values, strict=True) if value is not None}


def measure_broker_restart(stack: Stack, count: int) -> dict[str, Any]:
    """The broker restarted under the whole fleet (on NATS: the first node killed and started again):
    until every receiver it cut off is back (connected again and seen by the controller), from the
    moment the broker went down, and what the controller shed meanwhile."""
    before = fleet_connections(stack)
    cut_off = receivers_cut_off(stack.servers)
    if cut_off is not None:
        before = {device: connection for device, connection in before.items() if device in cut_off}
        count = len(before)
    shed_before = stack.http.get(f"{API}/system/status").json().get("inbox", {}).get("shed", {})
    restarted = time.monotonic()
    taken_down = {**take_broker_down(stack.servers), "cut_off": count}

    def back() -> int:
        now = fleet_connections(stack)
        return sum(1 for device, connection in before.items() if now.get(device, 0) > connection)

    counts: list[tuple[float, int]] = []
    while time.monotonic() - restarted < 300:
        counts.append((time.monotonic() - restarted, back()))
        if counts[-1][1] >= count:
            break
        time.sleep(2.0)
    shed_after = stack.http.get(f"{API}/system/status").json().get("inbox", {}).get("shed", {})
    reached = {pct: next((round(t, 1) for t, n in counts if n >= math.ceil(pct / 100 * count)), None)
               for pct in (50, 99, 100)}
    return {**taken_down, "back": counts[-1][1], "back_50pct_s": reached[50], "back_99pct_s": reached[99],
            "back_all_s": reached[100],
            "shed_meanwhile": {kind: n - shed_before.get(kind, 0) for kind, n in shed_after.items()
                               if n - shed_before.get(kind, 0)}}


def measure_stop_all(stack: Stack, count: int) -> dict[str, Any]:
    """A 60 s tone everywhere (nothing to download), then stop-all: until 99% have said `stopped`."""
    start_ms = int(time.time() * 1000) + 5000
    answer = stack.http.post(f"{API}/occurrences", json={
        "area_id": PROVINCE, "level": "normal", "start_ms": start_ms, "duration_ms": 60_000,
        "source": {"type": "tone", "frequency_hz": 523}, "quiet_override": True})
    answer.raise_for_status()
    occurrence_id = answer.json()["id"]
    time.sleep(max(0.0, start_ms / 1000 - time.time()) + 8)  # on the air everywhere, receipts in
    asked = time.time()
    stack.http.post(f"{API}/broadcasts/stop-all", json={"area_id": PROVINCE}).raise_for_status()
    answered = time.time()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(stopped_after(stack, occurrence_id)) < count:
        time.sleep(1.0)
    delays = [(t - asked) * 1000 for t in stopped_after(stack, occurrence_id)]
    result: dict[str, Any] = {"answered_ms": round((answered - asked) * 1000), "stopped": len(delays)}
    if delays:
        result.update(p50_ms=round(percentile(delays, 50)), max_ms=round(delays[-1]))
    if len(delays) >= math.ceil(0.99 * count):
        result["p99_of_fleet_ms"] = round(delays[math.ceil(0.99 * count) - 1])
    return result


# -- the run -------------------------------------------------------------------------------------

def profile(pid: int, seconds: int, out: Path, tree: bool = False) -> Server:
    """py-spy sampling the process (and its children) for seconds: a collapsed-stack file."""
    argv = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid),
            "--duration", str(seconds),
            "--nonblocking", "--format", "raw", "--output", str(out), *(["--subprocesses"] if tree else [])]
    spy = Server(f"py-spy {out.name}", argv, out.with_suffix(".log"))
    spy.start()
    return spy


def top_functions(collapsed: Path, limit: int = 15) -> list[tuple[str, float]]:
    """The functions most often on the stack (self time excluded: inclusive), as fractions of samples."""
    counts: dict[str, int] = {}
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        samples = int(number)
        total += samples
        for frame in set(stack.split(";")):
            counts[frame] = counts.get(frame, 0) + samples
    ranked = sorted(counts.items(), key=lambda item: -item[1])[:limit]
    return [(frame, round(n / total, 3)) for frame, n in ranked]


def run(count: int, root: Path, processes: int, broker: str, nats_mqtt: tuple[str, ...] = (),
        profile_dir: Path | None = None, floor_qos: int = 0) -> dict[str, Any]:
    raise_descriptor_limit()
    root.mkdir(parents=True, exist_ok=True)
    stack = Stack(root, broker, nats_mqtt)
    results: dict[str, Any] = {"count": count, "processes": processes, "broker": broker_label(stack.servers),
                               "nats_mqtt": list(nats_mqtt), "machine": machine()}
    try:
        ensure_province(stack.http)
        enrolled_before = sum(1 for _ in (root / "sim").glob(f"{PREFIX}-*/agent.toml"))
        started = time.monotonic()
        simulator = start_simulator(root, stack, count, processes)
        wait(lambda: sum(1 for _ in (root / "sim").glob(f"{PREFIX}-*/agent.toml")) >= count, 7200,
             "enrolment")
        if enrolled_before < count:
            results["enrolment_s"] = round(time.monotonic() - started, 1)
            results["enrolled"] = count - enrolled_before
        results["all_online_s"] = round(wait(lambda: online_count(stack) >= count, 900, "all online", 2.0), 1)
        assert simulator.process is not None
        time.sleep(20)  # the clocks settle
        idle = Meter(stack.controller_pid, simulator.process.pid, broker_pids(stack.servers))
        time.sleep(10)
        results["idle"] = idle.read()
        results["jetstream_fleet_online"] = jetstream_load(stack.servers)  # empty on Mosquitto
        floor = raw_floor(mqtt_ports(stack.servers), stack.mqtt_password, count, processes, floor_qos)
        results["floor"] = {"qos": floor_qos, **floor}
        results["jetstream_with_floor"] = jetstream_load(stack.servers)  # empty on Mosquitto
        short = upload_tone(stack.http, root, 2.0, 400.0 + secrets.randbelow(200))  # a new file each run
        time.sleep(5)
        spies = []
        if profile_dir is not None:
            profile_dir.mkdir(parents=True, exist_ok=True)
            spies = [profile(stack.controller_pid, 25, profile_dir / "controller.txt"),
                     profile(simulator.process.pid, 25, profile_dir / "simulator.txt", tree=True)]
        phase = Meter(stack.controller_pid, simulator.process.pid, broker_pids(stack.servers))
        results["broadcast"] = {**measure_broadcast(stack, short, count), **phase.read()}
        for spy in spies:
            assert spy.process is not None
            spy.process.wait(timeout=120)
        time.sleep(5)
        phase = Meter(stack.controller_pid, simulator.process.pid, broker_pids(stack.servers))
        results["stop_all"] = {**measure_stop_all(stack, count), **phase.read()}
        time.sleep(5)
        phase = Meter(stack.controller_pid, simulator.process.pid, broker_pids(stack.servers))
        results["broker_restart"] = {**measure_broker_restart(stack, count), **phase.read()}
        status = stack.http.get(f"{API}/system/status").json()
        results["shed"] = status.get("inbox", {}).get("shed", {})
        results["jetstream_end"] = jetstream_load(stack.servers)  # empty on Mosquitto
    except Exception as exc:  # the phases measured so far are still printed
        results["error"] = repr(exc)[:500]
    finally:
        stack.stop()  # the simulator first
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--broker", choices=BROKERS, default="mosquitto",
                        help="the project's Mosquitto, or a three-node NATS cluster")
    parser.add_argument("--nats-mqtt", action="append", default=[], metavar="LINE",
                        help="a line added to the NATS nodes' mqtt block, e.g. 'consumer_replicas: 1'")
    parser.add_argument("--processes", type=int, help=f"simulator processes (default: one per {PER_PROCESS})")
    parser.add_argument("--root", type=Path, help="the stack's files; reused by a later run (default: new)")
    parser.add_argument("--floor-qos", type=int, choices=(0, 1), default=0,
                        help="the floor's subscriptions (0, as the receivers subscribe; on NATS each QoS 1 "
                             "subscription is a JetStream consumer)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="sample the controller and the simulator with py-spy during the broadcast")
    args = parser.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="loalang-fanout-"))
    processes = args.processes or max(1, math.ceil(args.count / PER_PROCESS))
    print(json.dumps(run(args.count, root, processes, args.broker, tuple(args.nats_mqtt), args.profile,
                         args.floor_qos)))


if __name__ == "__main__":
    main()
