"""`make demo` as a newcomer meets it: it starts, names who to log in as (an operator, an approver and a
technician besides the admin), where to listen and which broker it runs, its three receivers come online,
Thôn Đoài waits for approval, the map has the commune's and villages' outlines with each receiver in its
village, Ctrl-C stops everything, and started again on its state the demo brings back the same
receivers. All of it on Mosquitto and on a three-node NATS cluster (LOALANG_BROKER=nats)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from loalang_stack.demo import USERS
from loalang_stack.ports import free_port
from receiver_agent import config as config_file
from tests.testkit import login, wait_for

pytestmark = pytest.mark.e2e

API = "/api/v1"
START_S = 120.0  # a NATS cluster restarted on its state may take a minute to elect its leaders


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


def free_port_block(count: int) -> int:
    """The first of count consecutive free ports (the NATS demo's nodes take LOALANG_MQTT_PORT on)."""
    while True:
        first = free_port()
        if all(_bindable(port) for port in range(first + 1, first + count)):
            return first


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def demo_env(folder: Path, broker: str) -> dict[str, str]:
    """The environment of a demo on broker with its state in folder, on free ports."""
    return {**os.environ, "LOALANG_BROKER": broker, "LOALANG_DEMO_DIR": str(folder),
            "LOALANG_HTTP_PORT": str(free_port()), "LOALANG_MQTT_PORT": str(free_port_block(3)),
            "LOALANG_REDIS_PORT": str(free_port()), "LOALANG_ADMIN_PASSWORD": secrets.token_urlsafe(12)}


@contextmanager
def running_demo(env: dict[str, str]) -> Iterator[str]:
    """`make demo` with env until its "Press Ctrl-C" line (what it printed is given); then Ctrl-C, after
    which it must exit cleanly."""
    process = subprocess.Popen([sys.executable, "-m", "loalang_stack.demo"], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield read_until_running(process)
    finally:
        process.send_signal(signal.SIGINT)
        stopped = process.wait(timeout=30)
    assert stopped == 0


def receivers_online(admin: httpx.Client) -> list[dict[str, Any]]:
    """The demo's devices, once all three are online."""
    def all_online() -> list[dict[str, Any]] | None:
        devices: list[dict[str, Any]] = admin.get(f"{API}/devices").json()
        return devices if sum(device["online"] for device in devices) == 3 else None

    return wait_for(all_online, 60.0, what="the demo's three receivers online")


BROKER_SAID = {"mosquitto": "broker:   Mosquitto, MQTT port {0}",
               "nats": "broker:   NATS cluster of 3 nodes, MQTT ports {0}, {1}, {2}"}
BROKER_NODES = {"mosquitto": 1, "nats": 3}


def given_mqtt_ports(folder: Path) -> list[list[int]]:
    """The MQTT ports each of the demo's receivers was given at enrolment (its configuration's)."""
    return [[address.port for address in config_file.load(path).broker.broker_addresses()]
            for path in sorted(folder.glob("receivers/sim-*/agent.toml"))]


def presences(url: str, password: str) -> dict[str, dict[str, Any]]:
    """Each of the demo's receivers and its connection (boot, install), once all three are online."""
    admin = login(url, "admin", password)
    return {device["id"]: device["presence"] for device in receivers_online(admin)}


@pytest.mark.parametrize("broker", ["mosquitto", "nats"])
def test_the_demo_offers_an_approver_and_a_technician_and_says_where_to_listen(tmp_path: Path,
                                                                               broker: str) -> None:
    env = demo_env(tmp_path / "demo", broker)
    url = f"http://127.0.0.1:{env['LOALANG_HTTP_PORT']}"
    with running_demo(env) as printed:
        for username, role, _ in USERS:
            assert f"{username} / loalang-demo" in printed
            me = login(url, username, "loalang-demo").get(f"{API}/users/me").json()
            assert (me["role"], me["area_id"]) == (role, "xa-hoa-binh")
        assert f"{tmp_path / 'demo'}/receivers/sim-N/card/card.wav" in printed
        first_mqtt_port = int(env["LOALANG_MQTT_PORT"])
        assert BROKER_SAID[broker].format(*range(first_mqtt_port, first_mqtt_port + 3)) in printed
        nodes = list(range(first_mqtt_port, first_mqtt_port + BROKER_NODES[broker]))

        admin = login(url, "admin", env["LOALANG_ADMIN_PASSWORD"])
        areas = {area["id"]: area for area in admin.get(f"{API}/areas").json()}
        assert areas["thon-doai"]["approval"] == "required" and areas["thon-dong"]["approval"] is None
        devices = receivers_online(admin)
        outlines = {f["properties"]["area_id"]: f["geometry"]["coordinates"][0][0]
                    for f in admin.get(f"{API}/areas/outlines").json()["features"]}
        assert set(outlines) == {"xa-hoa-binh", "thon-dong", "thon-doai"}
        for device in devices:
            assert inside(device["longitude"], device["latitude"], outlines[device["area_id"]]), device["id"]
        first = presences(url, env["LOALANG_ADMIN_PASSWORD"])
        assert given_mqtt_ports(tmp_path / "demo") == [nodes] * 3, "every node, to move to on failure"

    with running_demo(env):  # started again on its state: the same receivers, not enrolled anew
        again = presences(url, env["LOALANG_ADMIN_PASSWORD"])
    assert set(again) == set(first)
    for device_id, presence in again.items():
        assert presence["install_id"] == first[device_id]["install_id"], device_id
        assert presence["boot"] == first[device_id]["boot"] + 1, device_id


def test_an_unknown_broker_is_refused_by_name(tmp_path: Path) -> None:
    env = demo_env(tmp_path / "demo", "rabbitmq")
    process = subprocess.Popen([sys.executable, "-m", "loalang_stack.demo"], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _, said = process.communicate(timeout=30)
    finally:
        if process.poll() is None:  # it started after all: stop what it started
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    assert process.returncode == 2
    assert "LOALANG_BROKER='rabbitmq'" in said and "mosquitto or nats" in said
    assert not (tmp_path / "demo").exists(), "nothing started"
