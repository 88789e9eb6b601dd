"""Redis lost under a running controller: while it is gone the API answers 503 with Retry-After and
the code `redis_unavailable` (never a 500), what needs only the database still answers, and once
Redis is back, empty, every connected agent is shown online again without restarting anything.

Each test runs its own Redis and controller (on the session's broker), so stopping Redis disturbs
no other test.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis as redis_client

from loalang_protocol import topics
from loalang_protocol.topics import DeviceTopic
from loalang_stack import broker, redis
from loalang_stack.ports import free_port
from loalang_stack.process import Server
from loalang_stack.services import ControllerProcess
from tests.testkit import (
    Fleet,
    OwnStack,
    Stack,
    api_client,
    controller_password,
    own_controller,
    own_stack,
    wait_for,
)

pytestmark = pytest.mark.e2e

API = "/api/v1"


@dataclass
class OwnRedis:
    """A Redis server of the test's own, which the test stops and starts again on the same port."""

    root: Path
    port: int
    server: Server
    starts: int = 0

    def stop(self) -> None:
        """Stop it (it keeps nothing on disk)."""
        self.server.stop()

    def start_empty(self) -> None:
        """Start a new server on the same port, with an empty data folder."""
        self.starts += 1
        self.server = redis.start(self.root / f"redis-{self.starts}", self.port)


@dataclass
class Own:
    """The test's controller, the Redis it uses and its broker."""

    controller: ControllerProcess
    redis: OwnRedis
    stack: OwnStack


@pytest.fixture
def own(stack: Stack, tmp_path: Path) -> Iterator[Own]:
    port = free_port()
    store = OwnRedis(tmp_path, port, redis.start(tmp_path / "redis-0", port))
    try:
        with own_stack(stack, tmp_path) as mine, own_controller(
                mine, tmp_path, LOALANG_REDIS_URL=f"redis://127.0.0.1:{port}/0",
                LOALANG_INSTANCE_ID="ctl-redis-loss") as controller:
            yield Own(controller, store, mine)
    finally:
        store.stop()


@pytest.fixture
def own_fleet(own: Own, tmp_path: Path) -> Iterator[Fleet]:
    helper = Fleet(own.controller, tmp_path / "fleet")
    helper.ensure_areas()
    yield helper
    helper.close()


def unparameterised_gets(client: httpx.Client) -> list[str]:
    """Every GET path of the API that takes no path parameter."""
    paths = client.get("/openapi.json").json()["paths"]
    return sorted(path for path, methods in paths.items() if "get" in methods and "{" not in path)


def test_api_answers_503_while_redis_is_down_and_200_once_it_is_back(own: Own, own_fleet: Fleet) -> None:
    device_id, _ = own_fleet.register()
    client, _ = api_client(own_fleet, "admin", None)  # its key is kept in the database, not in Redis
    reads = unparameterised_gets(client)
    assert client.get(f"{API}/devices/{device_id}").status_code == 200

    own.redis.stop()
    started = time.monotonic()
    answer = client.get(f"{API}/devices/{device_id}")  # presence lives in Redis
    took = time.monotonic() - started
    print(f"answered {answer.status_code} in {took * 1000:.0f} ms with Redis stopped")
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "redis_unavailable"
    assert int(answer.headers["Retry-After"]) > 0
    assert took < 3.0

    assert client.get(f"{API}/areas").status_code == 200, "areas are read from the database alone"
    health = httpx.get(f"{own.controller.url}/healthz")
    assert health.status_code == 503 and health.json() == {"ok": False, "broker": True, "redis": False}
    status = client.get(f"{API}/system/status")
    assert status.status_code == 200 and status.json()["redis_connected"] is False
    for path in reads:
        with client.stream("GET", path, timeout=20) as reply:
            body = reply.read() if reply.status_code != 200 else b""
        assert reply.status_code != 500 and b"Traceback" not in body, (path, reply.status_code, body)
    feed = client.get(f"{API}/feed", timeout=20)
    assert feed.status_code == 503 and feed.json()["code"] == "redis_unavailable", "not a stream that closes"
    assert int(feed.headers["Retry-After"]) > 0

    own.redis.start_empty()
    wait_for(lambda: client.get(f"{API}/devices/{device_id}").status_code == 200, 10.0,
             what="the device read again with Redis back")
    health = httpx.get(f"{own.controller.url}/healthz")
    assert health.status_code == 200 and health.json() == {"ok": True, "broker": True, "redis": True}
    assert client.get(f"{API}/system/status").json()["redis_connected"] is True
    assert own.controller.server is not None and own.controller.server.process is not None
    assert own.controller.server.process.poll() is None, "the controller kept running"


def connections(fleet: Fleet, device_ids: list[str]) -> dict[str, tuple[int, int]]:
    """Each device's boot and connection number as the API shows them."""
    shown = {}
    for device_id in device_ids:
        presence = fleet.device(device_id)["presence"] or {}
        shown[device_id] = (presence.get("boot", -1), presence.get("connection", -1))
    return shown


@pytest.mark.parametrize("loss", ["restarted empty", "flushed"])
def test_agents_are_shown_online_again_after_redis_comes_back_empty(own: Own, own_fleet: Fleet,
                                                                    loss: str) -> None:
    devices = []
    for area in ("thon-a", "thon-b", "thon-c"):
        device_id, config = own_fleet.enrolled_agent(area=area)
        own_fleet.start(config)
        devices.append(device_id)
    wait_for(lambda: all(own_fleet.online(d) for d in devices), 20.0, what="three agents online")
    before = connections(own_fleet, devices)

    if loss == "restarted empty":
        log = own.controller.data_dir / "controller.log"
        noticed = log.read_text().count("Redis unreachable (")
        own.redis.stop()
        wait_for(lambda: log.read_text().count("Redis unreachable (") > noticed, 10.0,
                 what="the controller noticing Redis gone")
        own.redis.start_empty()
    else:
        redis_client.Redis(port=own.redis.port).flushall()
    lost = time.monotonic()
    own_fleet.login()  # a fresh login: what is tested here is presence, not sessions

    wait_for(lambda: all(own_fleet.online(d) for d in devices), 30.0, interval=0.2,
             what="every agent shown online again")
    print(f"Redis {loss}: every agent online again after {time.monotonic() - lost:.1f} s")
    # online comes back with the next message heard; the boot and connection numbers with the retained
    # births the presence watchdog asks the broker for again once it sees the marker gone: under 2 s
    # with this test alone, 10 to 20 s in two full runs
    wait_for(lambda: connections(own_fleet, devices) == before, 30.0,
             what="each device's boot and connection number as before (nothing restarted or reconnected)")
    assert all(agent.process is not None and agent.process.poll() is None for agent in own_fleet.agents)
    assert own.controller.server is not None and own.controller.server.process is not None
    assert own.controller.server.process.poll() is None, "the controller kept running"


def clear_retained(stack: Stack, topic: str) -> None:
    """Remove the broker's retained message on topic (an empty retained message, sent as the controller)."""
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(stack.mqtt_port),
                    "-u", broker.CONTROLLER_USERNAME, "-P", controller_password(stack),
                    "-t", topic, "-q", "1", "-r", "-n"], check=True, timeout=10, capture_output=True)


def test_telemetry_alone_brings_agents_back_when_the_broker_kept_no_birth(own: Own, own_fleet: Fleet) -> None:
    """A broker that keeps no retained message (or lost them): the devices' telemetry is enough."""
    devices = []
    for area in ("thon-a", "thon-b"):
        device_id, config = own_fleet.enrolled_agent(area=area)
        own_fleet.start(config)
        devices.append(device_id)
    wait_for(lambda: all(own_fleet.online(d) for d in devices), 20.0, what="two agents online")
    for device_id in devices:
        clear_retained(own.stack, topics.device(device_id, DeviceTopic.STATUS))

    redis_client.Redis(port=own.redis.port).flushall()
    lost = time.monotonic()
    own_fleet.login()  # a fresh login: what is tested here is presence, not sessions
    wait_for(lambda: all(own_fleet.online(d) for d in devices), 30.0, interval=0.2,
             what="every agent shown online again")
    print(f"from telemetry alone: every agent online again after {time.monotonic() - lost:.1f} s")
    assert set(connections(own_fleet, devices).values()) == {(0, 0)}, "its connection unknown until a birth"


def test_a_redis_that_hangs_costs_a_request_seconds_not_half_a_minute(own: Own, own_fleet: Fleet) -> None:
    device_id, _ = own_fleet.register()
    client, _ = api_client(own_fleet, "admin", None)
    own.redis.server.signal(signal.SIGSTOP)  # it keeps its connections and answers nothing
    try:
        started = time.monotonic()
        answer = client.get(f"{API}/devices/{device_id}", timeout=60)
        took = time.monotonic() - started
    finally:
        own.redis.server.signal(signal.SIGCONT)
    print(f"answered {answer.status_code} after {took:.1f} s with Redis frozen")
    assert answer.status_code == 503 and answer.json()["code"] == "redis_unavailable", answer.text
    assert took < 20.0, "before: the 30 s socket timeout, and more with its retries"
    wait_for(lambda: client.get(f"{API}/devices/{device_id}").status_code == 200, 15.0,
             what="answered again once Redis answers")
