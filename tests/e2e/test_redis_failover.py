"""Redis with a replica and a Sentinel: the master is killed, the Sentinel promotes the replica, and
the controller follows it by itself, the live state it held (presence) still there."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from loalang_stack import redis
from loalang_stack.ports import free_port
from loalang_stack.process import Server
from tests.testkit import ADMIN_PASSWORD, Fleet, Stack, own_fleet, wait_for

pytestmark = pytest.mark.e2e

API = "/api/v1"
MASTER_NAME = "loalang-test"


@dataclass
class Replicated:
    master: Server
    replica: Server
    sentinel: Server
    replica_port: int
    sentinel_port: int


def replication(port: int) -> str:
    return subprocess.run(["redis-cli", "-p", str(port), "INFO", "replication"], capture_output=True,
                          text=True, timeout=10).stdout


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[Replicated]:
    master_port, replica_port, sentinel_port = free_port(), free_port(), free_port()
    master = redis.start(tmp_path / "master", master_port)
    replica = redis.start(tmp_path / "replica", replica_port, replica_of=master_port)
    sentinel = redis.start_sentinel(tmp_path / "sentinel", sentinel_port, MASTER_NAME, master_port)
    try:
        wait_for(lambda: "master_link_status:up" in replication(replica_port), 20.0,
                 what="the replica in sync")
        yield Replicated(master, replica, sentinel, replica_port, sentinel_port)
    finally:
        for server in (sentinel, replica, master):
            server.stop()


@pytest.fixture
def fleet_on_sentinel(stack: Stack, replicated: Replicated, tmp_path: Path) -> Iterator[Fleet]:
    with own_fleet(stack, tmp_path, LOALANG_REDIS_URL="redis://ignored/0", LOALANG_INSTANCE_ID="ctl-sentinel",
                   LOALANG_REDIS_SENTINELS=f"127.0.0.1:{replicated.sentinel_port}",
                   LOALANG_REDIS_SENTINEL_MASTER=MASTER_NAME) as fleet:
        yield fleet


def test_the_controller_follows_a_failover_to_the_replica(fleet_on_sentinel: Fleet,
                                                          replicated: Replicated) -> None:
    fleet = fleet_on_sentinel
    agents = [fleet.enrolled_agent(area="thon-a") for _ in range(2)]
    for device_id, config in agents:
        fleet.start(config)
        wait_for(lambda d=device_id: fleet.online(d), 10.0, what="online")

    replicated.master.signal(signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: "role:master" in replication(replicated.replica_port), 30.0,
             what="the Sentinel promoting the replica")
    promoted = time.monotonic() - killed

    def answers() -> bool:
        login = httpx.post(f"{fleet.controller.url}{API}/auth/token",
                           data={"username": "admin", "password": ADMIN_PASSWORD}, timeout=10)
        return login.status_code == 200 and fleet.http.get(f"{API}/system/status").status_code == 200

    wait_for(answers, 30.0, interval=0.5, what="the controller on the new master")
    recovered = time.monotonic() - killed
    assert all(fleet.online(device_id) for device_id, _ in agents), "presence was replicated"
    sent = fleet.http.post(f"{API}/devices/{agents[0][0]}/commands", json={"name": "ping"})
    assert sent.status_code in (200, 201, 202), sent.text
    print(f"replica promoted {promoted:.1f} s after the master was killed; controller answering "
          f"after {recovered:.1f} s")
