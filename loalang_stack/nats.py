"""A local NATS cluster with its MQTT gateway and JetStream: nodes rendered from broker/nats/, and
users whose MQTT topic permissions are written as NATS subjects (docs/nats.md has the notes)."""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

from .broker import BROKER_DIR, CONTROLLER_USERNAME
from .ports import free_port, wait_for_port
from .process import Server

TEMPLATE = BROKER_DIR / "nats" / "node.conf.template"
CLUSTER_NAME = "loalang"
ACCOUNT = "LOA"  # the one account of the controller and the devices: MQTT streams are per account
SYSTEM_ACCOUNT = "SYS"  # the server's own (advisories, monitoring); no user of ours is in it
MQTT_STREAMS = ("$MQTT_sess", "$MQTT_msgs", "$MQTT_rmsgs")  # sessions, QoS 1 messages, retained ones
MQTT_DELIVERY_SUBJECTS = "$MQTT.sub.>"  # where JetStream hands a QoS 1 subscriber its messages
NOTHING = ">"  # denied for a direction the user has no topic in: an empty allow list allows all
MAX_MEMORY_STORE = "256MB"
MAX_FILE_STORE = "1GB"


@dataclass(frozen=True)
class NatsUser:
    """A broker user and the MQTT topic filters it may publish and subscribe to."""

    name: str
    password: str
    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()
    mqtt_only: bool = True  # refused on the NATS client port


def topic_subjects(topic_filter: str) -> list[str]:
    """The NATS subjects an MQTT topic filter covers: '/' becomes '.', '+' becomes '*', and a trailing
    '#' both its parent level and '>' (in MQTT 'a/#' matches 'a' too)."""
    levels = ["*" if level == "+" else level for level in topic_filter.split("/")]
    if levels[-1] != "#":
        return [".".join(levels)]
    parent = ".".join(levels[:-1])
    return [parent, f"{parent}.>"] if parent else [">"]


def _direction(subjects: list[str]) -> dict[str, list[str]]:
    return {"allow": subjects} if subjects else {"deny": [NOTHING]}


def user_entry(user: NatsUser) -> dict[str, Any]:
    """The user as an entry of its account's `users` list."""
    publish = [subject for topic in user.publish for subject in topic_subjects(topic)]
    subscribe = [subject for topic in user.subscribe for subject in topic_subjects(topic)]
    if subscribe and ">" not in subscribe:
        subscribe.append(MQTT_DELIVERY_SUBJECTS)
    entry: dict[str, Any] = {
        "user": user.name, "password": user.password,
        "permissions": {"publish": _direction(publish), "subscribe": _direction(subscribe)},
    }
    if user.mqtt_only:
        entry["allowed_connection_types"] = ["MQTT"]
    return entry


def render_accounts(users: Iterable[NatsUser]) -> str:
    """The accounts file every node includes (NATS reads JSON values in its configuration)."""
    entries = ",\n".join(f"      {json.dumps(user_entry(user))}" for user in users)
    return "\n".join([
        "# Rendered by loalang_stack.nats; rewritten on every change of a user.",
        "accounts: {", f"  {ACCOUNT}: {{", "    jetstream: enabled", "    users: [",
        entries, "    ]", "  }", f"  {SYSTEM_ACCOUNT}: {{}}", "}", f"system_account: {SYSTEM_ACCOUNT}", "",
    ])


@dataclass
class NatsNode:
    """One node of the cluster: its ports and its folder (configuration, JetStream store, log)."""

    name: str
    folder: Path
    client_port: int
    cluster_port: int
    mqtt_port: int
    monitor_port: int
    address: str = "127.0.0.1"
    server: Server | None = None

    @property
    def conf_file(self) -> Path:
        """The rendered node configuration."""
        return self.folder / "nats.conf"

    @property
    def running(self) -> bool:
        """Whether the node's process is alive."""
        process = self.server.process if self.server is not None else None
        return process is not None and process.poll() is None

    def render_config(self, peers: list[NatsNode]) -> str:
        """Fill broker/nats/node.conf.template for this node, with routes to its peers."""
        routes = "\n".join(f'    "nats-route://{peer.address}:{peer.cluster_port}"' for peer in peers)
        return Template(TEMPLATE.read_text()).substitute(
            SERVER_NAME=self.name, ADDRESS=self.address, CLIENT_PORT=self.client_port,
            MONITOR_PORT=self.monitor_port, CLUSTER_PORT=self.cluster_port, MQTT_PORT=self.mqtt_port,
            STORE_DIR=self.folder / "jetstream", MAX_MEMORY_STORE=MAX_MEMORY_STORE,
            MAX_FILE_STORE=MAX_FILE_STORE, CLUSTER_NAME=CLUSTER_NAME, ROUTES=routes,
            ACCOUNTS_INCLUDE="../accounts.conf",
        )

    def start(self) -> None:
        """Start nats-server with the rendered configuration."""
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        self.server = Server(self.name, [binary, "-c", str(self.conf_file)], self.folder / "nats.log")
        self.server.start()

    def monitor(self, path: str) -> dict[str, Any]:
        """A JSON page of the node's monitoring port, for example `jsz?accounts=true&streams=true`."""
        url = f"http://{self.address}:{self.monitor_port}/{path}"
        with urllib.request.urlopen(url, timeout=2) as response:
            page: dict[str, Any] = json.loads(response.read())
        return page

    def meta_leader(self) -> str | None:
        """The name of the node leading JetStream's metadata group, as this node sees it."""
        return (self.monitor("jsz").get("meta_cluster") or {}).get("leader") or None

    def stream_leader(self, stream: str) -> str | None:
        """The name of the node leading the account's stream, as this node sees it."""
        page = self.monitor(f"jsz?acc={ACCOUNT}&streams=true")
        for account in page.get("account_details") or []:
            for detail in account.get("stream_detail") or []:
                if detail.get("name") == stream:
                    return (detail.get("cluster") or {}).get("leader") or None
        return None

    def healthy(self) -> bool:
        """Whether /healthz answers ok: listening, routed and in touch with JetStream's metadata leader."""
        try:
            return bool(self.monitor("healthz").get("status") == "ok")
        except (urllib.error.URLError, OSError, ValueError):
            return False


@dataclass
class NatsCluster:
    """Nodes under root sharing one accounts file; the controller's user has every topic."""

    root: Path
    nodes: list[NatsNode]
    controller_password: str
    users: dict[str, NatsUser] = field(default_factory=dict)

    @property
    def accounts_file(self) -> Path:
        """The accounts and users every node includes."""
        return self.root / "accounts.conf"

    def write_accounts(self) -> None:
        """Write the accounts file, readable by the owner only (it holds passwords)."""
        controller = NatsUser(CONTROLLER_USERNAME, self.controller_password, ("#",), ("#",), mqtt_only=False)
        self.accounts_file.touch(mode=0o600)
        self.accounts_file.write_text(render_accounts([controller, *self.users.values()]))

    def start(self, timeout: float = 20.0) -> None:
        """Write every node's configuration, start the nodes and wait until all are healthy."""
        self.write_accounts()
        for node in self.nodes:
            node.folder.mkdir(parents=True, exist_ok=True)
            node.conf_file.write_text(node.render_config([peer for peer in self.nodes if peer is not node]))
        for node in self.nodes:
            node.start()
        self.wait_healthy(self.nodes, timeout)

    def wait_healthy(self, nodes: list[NatsNode], timeout: float) -> None:
        """Wait until each of nodes listens for MQTT and says it is healthy."""
        deadline = time.monotonic() + timeout
        for node in nodes:
            while not node.healthy():
                if not node.running or time.monotonic() > deadline:
                    tail = node.server.tail() if node.server else ""
                    raise RuntimeError(f"{node.name} not healthy after {timeout} s:\n{tail}")
                time.sleep(0.1)
            wait_for_port(node.address, node.mqtt_port, timeout=max(0.1, deadline - time.monotonic()))

    def node(self, name: str) -> NatsNode:
        """The node called name."""
        return next(node for node in self.nodes if node.name == name)

    def stream_leader(self, stream: str) -> NatsNode | None:
        """The node leading the account's JetStream stream (`$MQTT_rmsgs` holds the retained
        messages); None while it has no leader or does not exist yet. A node reports only the
        streams it holds a replica of, so every running node is asked."""
        for node in self.nodes:
            leader = node.stream_leader(stream) if node.running else None
            if leader is not None:
                return self.node(leader)
        return None

    def leaders_running(self, streams: Iterable[str] = MQTT_STREAMS) -> bool:
        """Whether JetStream's metadata group and each of the account's streams are led by a running
        node, as every running node sees it: after a node is lost, MQTT clients can connect again once
        this holds."""
        running = [node for node in self.nodes if node.running]
        names = {node.name for node in running}
        try:
            return all(node.meta_leader() in names and all(node.stream_leader(stream) in names
                                                           for stream in streams)
                       for node in running)
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def add_users(self, *users: NatsUser) -> None:
        """Add or replace users, then have every running node reload its configuration."""
        self.users.update({user.name: user for user in users})
        self.write_accounts()
        self.reload()

    def reload(self) -> None:
        """Ask every running node to read its configuration again (SIGHUP)."""
        for node in self.nodes:
            if node.running and node.server is not None:
                node.server.signal(signal.SIGHUP)

    def kill(self, node: NatsNode) -> None:
        """Kill a node at once (SIGKILL), as a crash or a power cut would."""
        assert node.server is not None and node.server.process is not None, "start() first"
        node.server.signal(signal.SIGKILL)
        node.server.process.wait(5)

    def stop(self) -> None:
        """Stop every node still running, the last one first."""
        for node in reversed(self.nodes):
            if node.server is not None:
                node.server.stop()


def plan_cluster(root: Path, size: int = 3, address: str = "127.0.0.1") -> NatsCluster:
    """A cluster of size nodes on free ports under root; the controller's password is kept in
    root/controller-password, so a later run finds it again."""
    root.mkdir(parents=True, exist_ok=True)
    ports = iter(_distinct_free_ports(4 * size, address))
    nodes = [NatsNode(f"nats-{number}", root / f"nats-{number}", client_port=next(ports),
                      cluster_port=next(ports), mqtt_port=next(ports), monitor_port=next(ports),
                      address=address)
             for number in range(1, size + 1)]
    return NatsCluster(root, nodes, _controller_password(root / "controller-password"))


def _distinct_free_ports(count: int, address: str) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port(address)
        if port not in ports:
            ports.append(port)
    return ports


def _controller_password(password_file: Path) -> str:
    if not password_file.exists():
        password_file.touch(mode=0o600)
        password_file.write_text(secrets.token_urlsafe(24))
    return password_file.read_text().strip()
