"""A province's day compressed: the whole stack under a day's traffic for half an hour (issue 23).

Starts the project's own Mosquitto, Redis and controller (SQLite) as benchmarks/fanout.py does, the
same province of 5 communes and 10 villages, and N simulated receivers enrolled through the real
API (`receiver-agent simulate`, null sound card, no decoding, over processes of 500), which send
telemetry and ask for the time more often than a board does (the simulator's `--telemetry-interval`
and `--clock-interval`, 20 s each by default, instead of the 60 s and 300 s of
receiver_agent/config.py). For the whole run:

- a local Icecast station (a 440 Hz sine, MP3) relayed as a background bulletin to the first 20
  receivers (`--relay-receivers`): the controller streams it in signed 200 ms chunks;
- a bulletin every minute: a short library file, scheduled once through the API for the province
  40 s ahead; it cuts into the relay, which comes back after it;
- a subscriber of the benchmark's own (the controller's broker account) counts the messages of
  each kind: telemetry, clock requests and replies, device events (receipts), stream chunks.

Beside the simulated ones, a few receivers run as a board runs them (`--boards`, 3): each its own
`receiver-agent run` process on the simulated sound card, decoding what it plays, the first of
them also relaying the station. A simulator process holds 500 receivers in one heap, which no
board has; the boards' own RSS is the figure a pole's memory follows.

Every minute (`--sample-every`) it samples the controller's, the boards' and the simulator's RSS and
open descriptors, Redis's used_memory, the database file, and from GET /api/v1/system/status the MQTT
link's pending acknowledgements and connections, the inbox's shed and waiting messages and the
controller's asyncio tasks. At the end:

- growth of each sampled figure from the second quarter of the run to the last (means);
- items missed: bulletins whose receivers did not all store `started` and `completed` receipts,
  and receipts lost (a receiver without one) or doubled (one stored twice for an occurrence);
- false acknowledgements: with the broker frozen (SIGSTOP), a command whose QoS 1 publish goes
  through the controller's link, which carried the whole run, must not be answered as sent; once
  the broker runs again the link's pending acknowledgements must go back to 0;
- the traffic counted, as days of a real fleet of the same size at the default intervals.

Prints one JSON line, and a readable summary on standard error.

    .venv/bin/python -m benchmarks.soak --count 1000 --minutes 30
    .venv/bin/python -m benchmarks.soak --count 100 --minutes 3 --sample-every 15
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import redis as redis_client
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.fanout import (
    PREFIX,
    PROVINCE,
    VILLAGES,
    Stack,
    cpu_s,
    descendants,
    ensure_province,
    online_count,
    raise_descriptor_limit,
    simulation_dir,
    upload_tone,
    wait,
)
from benchmarks.stack import PASSWORD, broker_label, broker_pids, machine, rss_mb
from controller.settings import Settings
from loalang_protocol import topics
from loalang_protocol.topics import DeviceTopic, StreamTopic
from loalang_stack.broker import CONTROLLER_USERNAME
from loalang_stack.process import Server
from loalang_stack.services import agent_process
from receiver_agent import config as config_file
from receiver_agent.config import AgentConfig
from receiver_agent.simulate import Registrar, prepare_receivers
from tests.testkit import playing_station

API = "/api/v1"
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")  # the areas' time zone: schedules are given in local time
PER_PROCESS = 500
BULLETIN_LEAD_S = 40  # a bulletin is scheduled this long before it plays
BULLETIN_S = 5.0
RECEIPTS = ("started", "completed")  # what each receiver must store once per bulletin
RECEIPTS_SETTLE_S = 30  # after the last bulletin ends, its receipts come in
RECEIPTS_WAIT_S = 180  # then, at most this long for any still missing (agents resend after a minute)
FREEZE_ACK_TIMEOUT_S = 60.0  # the command's answer is awaited at most this long with the broker frozen
STATION = "sine=frequency=440:sample_rate=48000"
# The station is relayed to the first receivers only (--relay-receivers): a simulated receiver
# playing a stream ticks its playout every 20 ms and verifies every chunk, about 1.5% of a core
# each here, and a fifth of the fleet doing so took more than this machine's two cores. The
# controller's work per chunk is the same however many receive it.
RELAY_RECEIVERS = 20
BOARDS = 3
BOARD_PREFIX = "board"
SETTINGS = {"LOALANG_RELAY_ALLOWED_NETWORKS": "127.0.0.0/8"}  # the local station
# A real day, for the equivalent days: the defaults of the agent and controller...
TELEMETRY_DEFAULT_S = min(float(AgentConfig.model_fields["telemetry_interval_s"].default),
                          float(Settings.model_fields["device_keepalive_s"].default))
CLOCK_DEFAULT_S = float(AgentConfig.model_fields["clock_interval_s"].default)
CHUNK_MS = int(Settings.model_fields["live_chunk_ms"].default)
# ...and what has no default, assumed: a commune's morning, noon and evening bulletins, and two
# hours of a relayed station (VOV1's news, morning and evening).
BULLETINS_PER_DAY = 3
RELAY_HOURS_PER_DAY = 2.0
LEAVES = {DeviceTopic.TELEMETRY.value: "telemetry", DeviceTopic.CLOCK_REQUEST.value: "clock_requests",
          DeviceTopic.CLOCK_REPLY.value: "clock_replies", DeviceTopic.EVENT.value: "events",
          DeviceTopic.EVENT_ACK.value: "event_acks", StreamTopic.CHUNK.value: "chunks"}


# -- counting the traffic ---------------------------------------------------------------------------

class TrafficCount:
    """Subscribes with the controller's broker account to what the fleet and the controller exchange
    and counts each kind; keeps each receiver's latest stream chunk count from its telemetry."""

    def __init__(self, port: int, password: str) -> None:
        self.counts: Counter[str] = Counter()
        self.stream_chunks: dict[str, int] = {}
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"soak-count-{os.getpid()}")
        self._client.username_pw_set(CONTROLLER_USERNAME, password)
        filters = [topics.all_devices(leaf) for leaf in (
            DeviceTopic.TELEMETRY, DeviceTopic.CLOCK_REQUEST, DeviceTopic.CLOCK_REPLY, DeviceTopic.EVENT,
            DeviceTopic.EVENT_ACK)]
        self._client.on_connect = lambda client, *_: client.subscribe([(f, 0) for f in filters])
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port, keepalive=120)
        self._client.loop_start()
        if not self._subscribed.wait(20):
            raise RuntimeError("the traffic counter could not subscribe")

    def follow_stream(self, stream_id: str) -> None:
        """Count the chunks of this stream too."""
        self._client.subscribe(topics.stream(stream_id, StreamTopic.CHUNK), 0)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.retain:
            return
        parsed = topics.parse(message.topic)
        kind = LEAVES.get(parsed.leaf, "other") if parsed else "other"
        chunks = None
        if kind == "telemetry" and parsed is not None:
            try:
                chunks = int(json.loads(message.payload).get("stream_chunks") or 0)
            except (ValueError, TypeError, AttributeError):
                chunks = None
        with self._lock:
            self.counts[kind] += 1
            if chunks is not None and parsed is not None:
                self.stream_chunks[parsed.ident] = chunks

    def chunks_by_receiver(self) -> dict[str, int]:
        """Each receiver's stream chunk count, from its latest telemetry."""
        with self._lock:
            return dict(self.stream_chunks)

    def snapshot(self) -> dict[str, int]:
        """The counts so far, and the chunks the receivers say they received (their telemetry)."""
        with self._lock:
            return {**self.counts, "chunks_received_by_receivers": sum(self.stream_chunks.values())}

    def close(self) -> None:
        """Disconnect."""
        self._client.loop_stop()
        self._client.disconnect()


# -- sampling ---------------------------------------------------------------------------------------

def open_descriptors(pid: int) -> int:
    """Open file descriptors of a process (0 when it is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


@dataclass
class Sampler:
    """Takes one sample of the figures watched for growth, with CPU since the previous sample."""

    stack: Stack
    simulator_pid: int
    board_pids: list[int]
    traffic: TrafficCount
    started: float = field(default_factory=time.monotonic)
    _cpu: tuple[float, float, float] = (0.0, 0.0, 0.0)
    _at: float = 0.0

    def __post_init__(self) -> None:
        self._cpu, self._at = self.cpu(), time.monotonic()

    def cpu(self) -> tuple[float, float, float]:
        """CPU seconds of the controller, the simulator (its processes) and the broker."""
        return (cpu_s(self.stack.controller_pid), cpu_s(self.simulator_pid, tree=True),
                sum(cpu_s(pid) for pid in broker_pids(self.stack.servers)))

    def take(self) -> dict[str, Any]:
        """Everything sampled now."""
        status = self.stack.http.get(f"{API}/system/status").json()
        simulators = [self.simulator_pid, *descendants(self.simulator_pid)]
        database = self.stack.root / "controller" / "loalang.sqlite3"
        wal = database.with_name(database.name + "-wal")
        redis = redis_client.Redis(port=self.stack.ports["redis"])
        memory, keys = redis.info("memory"), redis.dbsize()
        redis.close()
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            events = connection.execute("SELECT count(*) FROM device_events").fetchone()[0]
        cpu, now = self.cpu(), time.monotonic()
        spent = [round(100 * (b - a) / (now - self._at), 1) for a, b in zip(self._cpu, cpu, strict=True)]
        self._cpu, self._at = cpu, now
        return {
            "t_s": round(now - self.started, 1),
            "controller_rss_mb": rss_mb(self.stack.controller_pid),
            "controller_fds": open_descriptors(self.stack.controller_pid),
            "board_rss_mb": round(sum(rss_of(pid) for pid in self.board_pids), 1),
            "board_fds": sum(open_descriptors(pid) for pid in self.board_pids),
            "simulator_rss_mb": round(sum(rss_of(pid) for pid in simulators), 1),
            "simulator_fds": sum(open_descriptors(pid) for pid in simulators),
            "broker_rss_mb": round(sum(rss_of(pid) for pid in broker_pids(self.stack.servers)), 1),
            "redis_used_memory_mb": round(int(memory["used_memory"]) / 2**20, 2),
            "redis_keys": keys,
            "database_mb": round(database.stat().st_size / 2**20, 2),
            "stored_events": events,
            "database_wal_mb": round(wal.stat().st_size / 2**20, 2) if wal.exists() else 0.0,
            "pending_acknowledgements": status["link"]["pending_acknowledgements"],
            "inbox_shed": sum(status["inbox"]["shed"].values()),
            "inbox_waiting": status["inbox"]["waiting"],
            "tasks": status["tasks"],
            "link_connections": status["link"]["connections"],
            "online": online_count(self.stack),
            "cpu_pct": {"controller": spent[0], "simulator": spent[1], "broker": spent[2]},
            "traffic": self.traffic.snapshot(),
        }


def rss_of(pid: int) -> float:
    """RSS in MB of a process that may have ended."""
    try:
        return rss_mb(pid)
    except OSError:
        return 0.0


GROWN = ("controller_rss_mb", "controller_fds", "board_rss_mb", "board_fds", "simulator_rss_mb",
         "simulator_fds", "broker_rss_mb", "redis_used_memory_mb", "redis_keys", "database_mb",
         "pending_acknowledgements", "inbox_shed", "inbox_waiting", "tasks", "link_connections")


def growth(samples: list[dict[str, Any]], seconds: float) -> dict[str, dict[str, float | None]]:
    """Per figure: the mean of the second quarter's samples, of the last quarter's, and the growth
    between them in percent (None when the second quarter's mean is 0 and the last's is not)."""
    second = [s for s in samples if seconds / 4 <= s["t_s"] < seconds / 2]
    last = [s for s in samples if s["t_s"] >= 3 * seconds / 4]
    result: dict[str, dict[str, float | None]] = {}
    for name in GROWN:
        if not second or not last:
            continue
        q2 = sum(s[name] for s in second) / len(second)
        q4 = sum(s[name] for s in last) / len(last)
        pct = 0.0 if q2 == q4 else (round(100 * (q4 - q2) / q2, 2) if q2 else None)
        result[name] = {"q2": round(q2, 2), "q4": round(q4, 2), "growth_pct": pct}
    return result


# -- the station and the bulletins -------------------------------------------------------------------

def local(epoch_s: float) -> str:
    """An instant as the schedules take it: the areas' wall-clock time, to the second."""
    return datetime.fromtimestamp(epoch_s, ZONE).strftime("%Y-%m-%dT%H:%M:%S")


def approved_bulletin(stack: Stack, **fields: Any) -> str:
    """A bulletin of the province, drafted and submitted (an admin's is approved at once)."""
    created = stack.http.post(f"{API}/bulletins", json={"area_id": PROVINCE, **fields})
    if created.is_error:
        raise RuntimeError(f"the bulletin was refused: {created.status_code} {created.text}")
    submitted = stack.http.post(f"{API}/bulletins/{created.json()['id']}/submit").json()
    if submitted.get("status") != "approved":
        raise RuntimeError(f"the bulletin was not approved: {submitted}")
    return str(submitted["id"])


def schedule_once(stack: Stack, bulletin_id: str, start_s: float, devices: list[str] | None = None) -> str:
    """Schedule the bulletin once (at any hour) for the province, or for the devices given; returns
    the schedule's id."""
    targets = {"device_ids": devices} if devices else {"area_ids": [PROVINCE]}
    answer = stack.http.post(f"{API}/bulletins/{bulletin_id}/schedules", json={
        "kind": "once", "start_local": local(start_s), "quiet_override": True, **targets})
    if answer.is_error:
        raise RuntimeError(f"the schedule was refused: {answer.status_code} {answer.text}")
    return str(answer.json()["id"])


def start_relay(stack: Stack, url: str, seconds: float, receivers: list[str]) -> str:
    """The station relayed to the receivers as a background bulletin whose window opened a second
    ago and lasts seconds (any other item cuts in); returns the broadcast (the stream's id) once the
    scheduler has put it on the air."""
    bulletin = approved_bulletin(stack, title="Tiếp sóng đài tỉnh", level="background", relay_url=url,
                                 duration_ms=max(60_000, int(seconds * 1000)))
    schedule_id = schedule_once(stack, bulletin, time.time() - 1, devices=receivers)
    found: list[str] = []

    def on_air() -> bool:
        found[:] = [b["id"] for b in stack.http.get(f"{API}/broadcasts").json()
                    if b.get("schedule_id") == schedule_id and b["status"] == "on_air"]
        return bool(found)

    wait(on_air, 60, "the relay on the air")
    return found[0]


# -- receipts -------------------------------------------------------------------------------------

def receipts(stack: Stack, schedule_ids: list[str], devices: list[str]) -> dict[str, Any]:
    """From the database: for each bulletin played, whether every receiver stored exactly one
    `started` and one `completed` receipt; what else the receivers said."""
    database = stack.root / "controller" / "loalang.sqlite3"
    marks = ",".join("?" * len(schedule_ids))
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        occurrences = dict(connection.execute(
            f"SELECT id, schedule_id FROM occurrences WHERE schedule_id IN ({marks})",
            schedule_ids).fetchall())
        rows = connection.execute("SELECT device_id, type, data FROM device_events").fetchall()
    stored: Counter[tuple[str, str, str]] = Counter()
    other: Counter[str] = Counter()
    for device, kind, data in rows:
        occurrence = json.loads(data).get("occurrence")
        if occurrence in occurrences:
            stored[(occurrence, device, kind)] += 1
            if kind not in RECEIPTS:
                other[kind] += 1
    lost = doubled = 0
    missed = []
    for occurrence in occurrences:
        counts = [stored[(occurrence, device, kind)] for device in devices for kind in RECEIPTS]
        lost += counts.count(0)
        doubled += sum(1 for n in counts if n > 1)
        if 0 in counts:
            missed.append(occurrence)
    return {"bulletins_scheduled": len(schedule_ids), "occurrences": len(occurrences),
            "items_missed": len(missed) + len(schedule_ids) - len(set(occurrences.values())),
            "receipts_expected": 2 * len(devices) * len(occurrences),
            "receipts_stored": sum(n for (_, _, kind), n in stored.items() if kind in RECEIPTS),
            "receipts_lost": lost, "receipts_doubled": doubled, "other_receipts": dict(other),
            "missed_occurrences": missed[:10]}


# -- false acknowledgements -----------------------------------------------------------------------

def frozen_broker_check(stack: Stack, device_id: str) -> dict[str, Any]:
    """With the broker stopped (SIGSTOP), a command through the controller's link: its QoS 1 publish
    must not be believed acknowledged (the API must not answer 202); the link's pending
    acknowledgements while frozen, and after the broker runs again (they must go back to 0)."""
    broker = broker_pids(stack.servers)
    answer: dict[str, Any] = {}

    def command() -> None:
        asked = time.monotonic()
        try:
            sent = stack.http.post(f"{API}/devices/{device_id}/commands", json={"name": "ping"},
                                   timeout=FREEZE_ACK_TIMEOUT_S)
            answer.update(status=sent.status_code, body=sent.text[:200])
        except Exception as exc:  # a timeout here is the API never answering: not acknowledged either
            answer.update(status=None, body=repr(exc)[:200])
        answer["seconds"] = round(time.monotonic() - asked, 1)

    for pid in broker:
        os.kill(pid, signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(1) as pool:
            asked = pool.submit(command)
            time.sleep(3)
            pending_frozen = stack.http.get(f"{API}/system/status").json()["link"]["pending_acknowledgements"]
            asked.result()
    finally:
        for pid in broker:
            os.kill(pid, signal.SIGCONT)
    time.sleep(10)
    pending_after = stack.http.get(f"{API}/system/status").json()["link"]["pending_acknowledgements"]
    return {"command_status": answer.get("status"), "command_answer": answer.get("body"),
            "command_seconds": answer.get("seconds"), "pending_while_frozen": pending_frozen,
            "pending_after": pending_after,
            "false_acknowledgements": 1 if answer.get("status") == 202 else 0}


# -- equivalent days ------------------------------------------------------------------------------

def equivalent_days(traffic: dict[str, int], count: int, relay_s: float, bulletins: int) -> dict[str, Any]:
    """The traffic counted, as days of a real fleet of count receivers at the default intervals."""
    per_day = {"telemetry": count * 86_400 / TELEMETRY_DEFAULT_S,
               "clock_requests": count * 86_400 / CLOCK_DEFAULT_S}
    days: dict[str, Any] = {kind: round(traffic.get(kind, 0) / n, 2) for kind, n in per_day.items()}
    days["receipts"] = round(bulletins / BULLETINS_PER_DAY, 2)
    days["live_chunks"] = round(relay_s / (RELAY_HOURS_PER_DAY * 3600), 2)
    return {"days": days, "a_real_day": {
        "telemetry_interval_s": TELEMETRY_DEFAULT_S, "clock_interval_s": CLOCK_DEFAULT_S,
        "bulletins": BULLETINS_PER_DAY, "relay_hours": RELAY_HOURS_PER_DAY, "chunk_ms": CHUNK_MS}}


# -- the run --------------------------------------------------------------------------------------

@dataclass
class Plan:
    """What the run does."""

    count: int
    minutes: float
    telemetry_s: float
    clock_s: float
    sample_every_s: float
    processes: int
    relay_receivers: int = RELAY_RECEIVERS
    boards: int = BOARDS

    @property
    def seconds(self) -> float:
        """The measured part of the run."""
        return self.minutes * 60


@dataclass(frozen=True)
class OnTheAir:
    """The running stack, the simulator, the boards and the station's URL."""

    stack: Stack
    simulator_pid: int
    simulated: list[str]  # the simulated receivers' device ids
    boards: dict[str, int]  # a board's device id -> its agent's pid
    station_url: str

    @property
    def devices(self) -> list[str]:
        """Every receiver: the simulated ones, then the boards."""
        return self.simulated + list(self.boards)


def start_boards(stack: Stack, root: Path, plan: Plan) -> dict[str, Server]:
    """plan.boards receivers enrolled through the API like the simulated ones, each run by its own
    `receiver-agent run` on the simulated sound card, at the run's telemetry and clock intervals."""
    folder = root / "boards"
    registrar = Registrar(stack.controller.url, "admin", PASSWORD)
    configs = prepare_receivers(folder, plan.boards, VILLAGES, registrar, stack.controller.url,
                                prefix=BOARD_PREFIX, allow_plain_http=True)
    boards = {}
    for path in configs:
        config = config_file.load(path)
        config_file.save(config.model_copy(update={"telemetry_interval_s": plan.telemetry_s,
                                                   "clock_interval_s": plan.clock_s}), path)
        server = agent_process(path, path.parent / "agent.log")
        server.start()
        boards[config.device_id] = server
    return boards


def pid_of(server: Server) -> int:
    assert server.process is not None, f"{server.name} not started"
    return server.process.pid


def all_online(stack: Stack, devices: list[str]) -> bool:
    """Whether the controller's presence has every one of the devices online."""
    client = redis_client.Redis(port=stack.ports["redis"])
    try:
        return all(client.zscore("loa:online", device) is not None for device in devices)
    finally:
        client.close()


@contextmanager
def fleet_on_the_air(root: Path, plan: Plan) -> Iterator[OnTheAir]:
    """The stack, the station, the enrolled fleet and the boards online. Everything is stopped at the
    end."""
    station_s = int(plan.seconds + 900)
    with playing_station(root / "station", source=STATION, seconds=station_s) as station:
        stack = Stack(root, "mosquitto", settings=SETTINGS)
        try:
            ensure_province(stack.http)
            simulator = stack.servers.start_simulator(
                plan.count, VILLAGES, PASSWORD,
                ["--prefix", PREFIX, "--telemetry-interval", str(plan.telemetry_s),
                 "--clock-interval", str(plan.clock_s), "--processes", str(plan.processes), "--null-audio"],
                data_dir=simulation_dir(root), log_level="WARNING", stop_timeout=60)
            assert simulator.process is not None
            process = simulator.process

            def fleet_online() -> bool:
                if process.poll() is not None:
                    raise RuntimeError(f"the simulator exited:\n{simulator.tail(10)}")
                return online_count(stack) >= plan.count

            wait(fleet_online, 7200, "all online", 2.0)
            boards = start_boards(stack, root, plan)
            try:
                wait(lambda: all_online(stack, list(boards)), 120, "the boards online")
                yield OnTheAir(stack, process.pid, [f"{PREFIX}-{n + 1}" for n in range(plan.count)],
                               {device: pid_of(board) for device, board in boards.items()},
                               station.listen_url("station.mp3"))
            finally:
                for board in boards.values():
                    board.stop(timeout=30)
        finally:
            stack.stop()


def run(root: Path, plan: Plan) -> dict[str, Any]:
    """The whole soak run; what was measured, also when it stopped early (with the error)."""
    raise_descriptor_limit()
    root.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"count": plan.count, "minutes": plan.minutes,
                               "telemetry_interval_s": plan.telemetry_s, "clock_interval_s": plan.clock_s,
                               "processes": plan.processes, "relay_receivers": plan.relay_receivers,
                               "machine": machine()}
    with fleet_on_the_air(root, plan) as on_air:
        results["broker"] = broker_label(on_air.stack.servers)
        traffic = TrafficCount(on_air.stack.mqtt_port, on_air.stack.mqtt_password)
        try:
            results.update(measure(on_air, traffic, plan))
        except Exception as exc:  # what was measured so far is still printed
            results["error"] = repr(exc)[:500]
        finally:
            traffic.close()
    return results


def measure(on_air: OnTheAir, traffic: TrafficCount, plan: Plan) -> dict[str, Any]:
    """The relay on the air, a bulletin a minute, samples; then receipts and the frozen broker."""
    stack = on_air.stack
    results: dict[str, Any] = {}
    tone = upload_tone(stack.http, stack.root, BULLETIN_S, 660.0)
    bulletin = approved_bulletin(stack, title="Bản tin mỗi phút", level="normal", media_sha256=tone)
    relayed_to = on_air.simulated[:plan.relay_receivers] + list(on_air.boards)[:1]
    traffic.follow_stream(start_relay(stack, on_air.station_url, plan.seconds + 300, relayed_to))
    wait(lambda: traffic.snapshot().get("chunks", 0) > 10, 60, "the relay on the air")
    time.sleep(10)  # the receivers join the stream
    before, chunks_before = traffic.snapshot(), traffic.chunks_by_receiver()
    sampler = Sampler(stack, on_air.simulator_pid, list(on_air.boards.values()), traffic)
    samples, schedules = [sampler.take()], []
    results["samples"] = samples
    next_sample, next_bulletin = plan.sample_every_s, 0.0
    failures: list[str] = []  # a long run goes on past a bulletin refused or a sample not taken
    results["failures"] = failures
    while (elapsed := time.monotonic() - sampler.started) < plan.seconds:
        if elapsed >= next_bulletin:
            next_bulletin += 60
            try:
                schedules.append(schedule_once(stack, bulletin, time.time() + BULLETIN_LEAD_S))
            except Exception as exc:
                failures.append(f"{elapsed:.0f} s: bulletin not scheduled: {exc!r:.200}")
        if elapsed >= next_sample:
            next_sample += plan.sample_every_s
            try:
                samples.append(sampler.take())
            except Exception as exc:
                failures.append(f"{elapsed:.0f} s: no sample: {exc!r:.200}")
        time.sleep(0.5)
    samples.append(sampler.take())
    during = {kind: n - before.get(kind, 0) for kind, n in traffic.snapshot().items()}
    chunks = {device: n - chunks_before.get(device, 0) for device, n in traffic.chunks_by_receiver().items()}
    heard = sorted(n for n in chunks.values() if n > 0)
    results["receivers_hearing_the_relay"] = {
        "count": len(heard), "chunks_min": heard[0] if heard else 0, "chunks_max": heard[-1] if heard else 0,
        "chunks_expected_each": round(plan.seconds * 1000 / CHUNK_MS)}
    time.sleep(BULLETIN_LEAD_S + BULLETIN_S + RECEIPTS_SETTLE_S)  # the last bulletin plays, receipts in
    results["traffic"] = during
    results["growth"] = growth(samples, plan.seconds)
    fleet = on_air.devices
    waited = time.monotonic()
    # a receipt held up (a busy controller, or the agent's resend of what waited over a minute) is late,
    # not lost: those still missing after RECEIPTS_WAIT_S are
    while (found := receipts(stack, schedules, fleet))["receipts_lost"] and \
            time.monotonic() - waited < RECEIPTS_WAIT_S:
        time.sleep(10)
    results["receipts"] = {**found, "waited_s": round(time.monotonic() - waited)}
    results["equivalent"] = equivalent_days(during, plan.count, plan.seconds, len(schedules))
    stored = samples[-1]["stored_events"] - samples[0]["stored_events"]
    results["database_bytes_per_event"] = round(
        (samples[-1]["database_mb"] - samples[0]["database_mb"]) * 2**20 / stored) if stored else None
    status = stack.http.get(f"{API}/system/status").json()
    results["shed"] = status["inbox"]["shed"]
    results["link"] = status["link"]
    results["frozen_broker"] = frozen_broker_check(stack, f"{PREFIX}-1")
    return results


# -- the report -----------------------------------------------------------------------------------

def summary(results: dict[str, Any]) -> str:
    """The figures as a reader wants them: the soak line, growth, receipts, acknowledgements."""
    lines = [f"soak: {results['count']} receivers, {results['minutes']:g} min, telemetry every "
             f"{results['telemetry_interval_s']:g} s, clock every {results['clock_interval_s']:g} s "
             f"({results['machine']})"]
    if "error" in results:
        lines.append(f"STOPPED EARLY: {results['error']}")
    lines += [f"failure at {failure}" for failure in results.get("failures", [])]
    equivalent = results.get("equivalent", {}).get("days", {})
    if equivalent:
        lines.append(f"{results['minutes']:g} minutes = " + ", ".join(
            f"{days:g} days of {kind.replace('_', ' ')}" for kind, days in equivalent.items()))
    for kind, n in results.get("traffic", {}).items():
        lines.append(f"  {kind}: {n:,}")
    for name, figure in results.get("growth", {}).items():
        pct = figure["growth_pct"]
        shown = "n/a (from 0)" if pct is None else f"{pct:+.1f}%"
        mark = "" if pct is not None and pct < 5 else "  <- over 5%"
        lines.append(f"  growth {name}: Q2 {figure['q2']:g} -> Q4 {figure['q4']:g}: {shown}{mark}")
    if "receipts" in results:
        r = results["receipts"]
        lines.append(f"bulletins {r['bulletins_scheduled']}, items missed {r['items_missed']}, receipts "
                     f"{r['receipts_stored']}/{r['receipts_expected']}, lost {r['receipts_lost']}, doubled "
                     f"{r['receipts_doubled']}, other {r['other_receipts']}")
    if "frozen_broker" in results:
        f = results["frozen_broker"]
        lines.append(f"frozen broker: command answered {f['command_status']} after {f['command_seconds']} s, "
                     f"pending {f['pending_while_frozen']} frozen -> {f['pending_after']} after; "
                     f"false acknowledgements {f['false_acknowledgements']}")
    return "\n".join(lines)


def main() -> None:
    """Run and print one JSON line (the summary on standard error)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--telemetry-interval", type=float, default=20.0, help="seconds (a board: 60)")
    parser.add_argument("--clock-interval", type=float, default=20.0, help="seconds (a board: 300)")
    parser.add_argument("--sample-every", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--relay-receivers", type=int, default=RELAY_RECEIVERS,
                        help="receivers the station is relayed to (the first ones)")
    parser.add_argument("--boards", type=int, default=BOARDS,
                        help="receivers run as a board runs them, each its own process")
    parser.add_argument("--processes", type=int, help=f"simulator processes (default: one per {PER_PROCESS})")
    parser.add_argument("--root", type=Path, help="the stack's files (default: a new folder)")
    args = parser.parse_args()
    plan = Plan(args.count, args.minutes, args.telemetry_interval, args.clock_interval, args.sample_every,
                args.processes or max(1, math.ceil(args.count / PER_PROCESS)), args.relay_receivers,
                args.boards)
    root = args.root or Path(tempfile.mkdtemp(prefix="loalang-soak-"))
    results = run(root, plan)
    print(summary(results), file=sys.stderr)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
