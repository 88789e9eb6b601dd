"""The stack the live benchmarks run on: the project's own Mosquitto (or a three-node NATS cluster),
Redis and controller, started by loalang_stack.stack.

The controller runs with its LOALANG_LIVE_* settings at their defaults; a fleet driver logged in
as its admin enrols and starts the receiver agents.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loalang_stack.nats import MQTT_STREAMS, NatsCluster, NatsNode
from loalang_stack.process import Server
from loalang_stack.services import ControllerProcess
from loalang_stack.stack import LocalStack, running
from tests.testkit import Fleet

PASSWORD = "benchmark-admin-password"
SETTINGS = {"LOALANG_ENVIRONMENT": "test", "LOALANG_ADMIN_PASSWORD": PASSWORD, "LOALANG_LOG_LEVEL": "WARNING"}


@dataclass
class LiveStack:
    """A running broker, Redis and controller, and a fleet driver logged in as the admin."""

    servers: LocalStack
    fleet: Fleet

    @property
    def controller(self) -> ControllerProcess:
        """The controller process."""
        assert self.servers.controller is not None
        return self.servers.controller

    @property
    def mqtt_port(self) -> int:
        """The broker's port."""
        return self.servers.mqtt_port

    @property
    def mqtt_password(self) -> str:
        """The controller's broker account's password."""
        return self.servers.mqtt_password

    @property
    def redis_port(self) -> int:
        """Redis's port."""
        return self.servers.redis_port


@contextmanager
def live_stack(root: Path, **settings: str) -> Iterator[LiveStack]:
    """Start broker, Redis and controller (with extra LOALANG_* settings) under root; the agents and all
    three are stopped at the end."""
    with running(root, {**SETTINGS, **settings}) as servers:
        assert servers.controller is not None
        fleet = Fleet(servers.controller, root / "agents", password=PASSWORD)
        try:
            yield LiveStack(servers, fleet)
        finally:
            fleet.close()


def machine() -> str:
    """The machine the figures were measured on."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


# -- the broker: Mosquitto or a NATS cluster -----------------------------------------------------

BROKERS = ("mosquitto", "nats")


def start_broker(servers: LocalStack, broker: str, mqtt_port: int | None = None,
                 nats_mqtt: tuple[str, ...] = ()) -> None:
    """The stack's broker: the project's Mosquitto (on mqtt_port), or a three-node NATS cluster
    (its ports kept under the stack's root, nats_mqtt added to its nodes' mqtt block); a controller
    started next is pointed at it (with device_settings, the receivers are given every node)."""
    if broker == "nats":
        servers.start_nats_cluster(timeout=120, mqtt_options=nats_mqtt)
    else:
        servers.start_broker(mqtt_port)


def device_settings(servers: LocalStack) -> dict[str, str]:
    """The controller's settings that give each receiver every node of a cluster at enrolment, as a
    province's would: each connects to one at random, so the fleet spreads over the nodes."""
    if servers.nats is None:
        return {}
    return {"LOALANG_DEVICE_MQTT_ADDRESSES": servers.nats.mqtt_addresses}


def mqtt_ports(servers: LocalStack) -> list[int]:
    """Every MQTT port of the broker: Mosquitto's, or each node's."""
    if servers.nats is None:
        return [servers.mqtt_port]
    return [node.mqtt_port for node in servers.nats.nodes]


def broker_servers(servers: LocalStack) -> list[Server]:
    """The broker's processes running now: Mosquitto, or each NATS node."""
    if servers.nats is not None:
        return [node.server for node in servers.nats.nodes if node.server is not None and node.running]
    return [servers.broker] if servers.broker is not None else []


def broker_pids(servers: LocalStack) -> list[int]:
    """The process ids of broker_servers."""
    return [server.process.pid for server in broker_servers(servers) if server.process is not None]


def broker_label(servers: LocalStack) -> str:
    """The broker, as the benchmarks' doc names it."""
    if servers.nats is not None:
        version = _version(["nats-server", "--version"])
        return f"{len(servers.nats.nodes)}-node NATS cluster (nats-server {version})"
    return f"Mosquitto {_version(['mosquitto', '-h'])}"


def _version(argv: list[str]) -> str:
    binary = shutil.which(argv[0]) or f"/usr/sbin/{argv[0]}"
    answer = subprocess.run([binary, *argv[1:]], capture_output=True, text=True, check=False)
    found = re.search(r"\d+\.\d+\.\d+", answer.stdout + answer.stderr)
    return found.group(0) if found else "?"


def take_broker_down(servers: LocalStack) -> dict[str, Any]:
    """Take the broker away under the fleet and bring it back: Mosquitto is restarted; on NATS the
    first node (the receivers on it, about a third of them, and perhaps the controller) is killed
    (SIGKILL, as a crash) and started again as a supervisor would. What was done, and which leaders
    that node held."""
    if servers.nats is None:
        servers.restart_broker()
        return {"how": "Mosquitto restarted"}
    cluster = servers.nats
    first = cluster.nodes[0]
    held = leaders_held(cluster, first)
    cluster.kill(first)
    first.start()  # at once: the fleet's return is measured from the kill
    return {"how": f"{first.name} killed (SIGKILL) and started again", "leaders_held": held}


def receivers_cut_off(servers: LocalStack) -> set[str] | None:
    """The device ids take_broker_down cuts off: on NATS those connected to the first node; None on
    Mosquitto: every one."""
    return None if servers.nats is None else servers.nats.nodes[0].connected_devices()


def leaders_held(cluster: NatsCluster, node: NatsNode) -> list[str]:
    """The JetStream groups node leads: the metadata group and the account's MQTT streams."""
    held = ["meta"] if node.meta_leader() == node.name else []
    account = cluster.trust.account_public
    return held + [stream for stream in MQTT_STREAMS if node.stream_leader(stream, account) == node.name]


def jetstream_load(servers: LocalStack) -> dict[str, dict[str, Any]]:
    """Per NATS node: its JetStream streams, consumers (one per QoS 1 subscription, each a Raft
    group of its own), API requests and errors, and its memory; empty on Mosquitto."""
    if servers.nats is None:
        return {}
    load: dict[str, dict[str, Any]] = {}
    for node in servers.nats.nodes:
        page = node.monitor("jsz")
        api = page.get("api") or {}
        load[node.name] = {"streams": page.get("streams"), "consumers": page.get("consumers"),
                           "api_total": api.get("total"), "api_errors": api.get("errors"),
                           "rss_mb": _node_rss_mb(node)}
    return load


def _node_rss_mb(node: NatsNode) -> float:
    process = node.server.process if node.server is not None else None
    return rss_mb(process.pid) if process is not None else 0.0


def rss_mb(pid: int) -> float:
    """A process's resident memory (MB), as /proc says."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


@contextmanager
def broker_stack(root: Path, broker: str, settings: dict[str, str]) -> Iterator[LocalStack]:
    """The broker (as start_broker), Redis and a controller (with settings) under root, stopped at
    the end."""
    with LocalStack(root) as servers:
        start_broker(servers, broker)
        servers.start_redis()
        servers.start_controller({**device_settings(servers), **settings}, timeout=120)
        yield servers
