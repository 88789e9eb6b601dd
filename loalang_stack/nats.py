"""A local NATS cluster with its MQTT gateway and JetStream: nodes rendered from broker/nats/, in
operator mode with the trust set `radio-controller nats-init` makes (docs/nats.md has the notes)."""

from __future__ import annotations

import json
import shutil
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from controller.broker_accounts.nats_subjects import MQTT_DELIVERY_SUBJECTS, subjects
from controller.broker_accounts.nats_trust import ControllerTrust, make_trust, mqtt_login

from .broker import BROKER_DIR, CONTROLLER_USERNAME
from .ports import free_port, wait_for_port
from .process import Server

TEMPLATE = BROKER_DIR / "nats" / "node.conf.template"
CLUSTER_NAME = "loalang"
MQTT_STREAMS = ("$MQTT_sess", "$MQTT_msgs", "$MQTT_rmsgs")  # sessions, QoS 1 messages, retained ones
MAX_MEMORY_STORE = "256MB"
MAX_FILE_STORE = "1GB"


@dataclass(frozen=True)
class NatsUser:
    """A broker user of the devices' account and the MQTT topic filters it may publish and subscribe
    to; the cluster signs its login (NatsCluster.login)."""

    name: str
    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()


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
    mqtt_options: tuple[str, ...] = ()  # more lines of the mqtt block, e.g. "consumer_replicas: 1"

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
            TRUST_INCLUDE="../trust/server/trust.conf", RESOLVER_DIR=self.folder / "accounts",
            MQTT_OPTIONS="\n".join(f"  {line}" for line in self.mqtt_options),
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

    def stream_leader(self, stream: str, account: str) -> str | None:
        """The name of the node leading the account's stream, as this node sees it (account: its
        public key)."""
        page = self.monitor(f"jsz?acc={account}&streams=true")
        for details in page.get("account_details") or []:
            for detail in details.get("stream_detail") or []:
                if detail.get("name") == stream:
                    return (detail.get("cluster") or {}).get("leader") or None
        return None

    def connected_devices(self) -> set[str]:
        """The ids of the devices connected to this node, from its monitoring page (a device's MQTT
        client id is `dev-<id>-<secret>`: controller/broker_accounts/nats.py)."""
        page = self.monitor("connz?limit=100000")
        names = [str(connection.get("mqtt_client") or "") for connection in page.get("connections") or []]
        return {name.removeprefix("dev-").rsplit("-", 1)[0] for name in names if name.startswith("dev-")}

    def healthy(self) -> bool:
        """Whether /healthz answers ok: listening, routed and in touch with JetStream's metadata leader."""
        try:
            return bool(self.monitor("healthz").get("status") == "ok")
        except (urllib.error.URLError, OSError, ValueError):
            return False


@dataclass
class NatsCluster:
    """Nodes under root trusting one operator (root/trust, made as `radio-controller nats-init` does)."""

    root: Path
    nodes: list[NatsNode]

    @property
    def trust_dir(self) -> Path:
        """The trust set: server/, controller/ (the controller's LOALANG_NATS_TRUST_DIR), offline/."""
        return self.root / "trust"

    @property
    def trust(self) -> ControllerTrust:
        """The controller's signing keys."""
        return ControllerTrust.load(self.trust_dir / "controller")

    @property
    def controller_password(self) -> str:
        """The controller's MQTT login (a JWT)."""
        return (self.trust_dir / "controller" / "controller.jwt").read_text().strip()

    @property
    def mqtt_addresses(self) -> str:
        """The nodes' MQTT addresses, as LOALANG_MQTT_ADDRESSES (and the devices' setting) take them."""
        return ",".join(f"{node.address}:{node.mqtt_port}" for node in self.nodes)

    @property
    def nats_servers(self) -> str:
        """The nodes' NATS client addresses, as LOALANG_NATS_SERVERS takes them."""
        return ",".join(f"nats://{node.address}:{node.client_port}" for node in self.nodes)

    def login(self, user: NatsUser) -> str:
        """A login (bearer JWT) for a test user, signed by the devices' account."""
        trust = self.trust
        subscribe = [*subjects(user.subscribe), MQTT_DELIVERY_SUBJECTS] if user.subscribe else []
        return mqtt_login(trust.account_signing_seed, trust.account_public, f"test:{user.name}", user.name,
                          subjects(user.publish), subscribe)

    def start(self, timeout: float = 20.0) -> None:
        """Write every node's configuration, start the nodes and wait until all are healthy."""
        if not (self.trust_dir / "controller").exists():
            make_trust(self.trust_dir, CONTROLLER_USERNAME)
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
            leader = node.stream_leader(stream, self.trust.account_public) if node.running else None
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
            account = self.trust.account_public
            return all(node.meta_leader() in names and all(node.stream_leader(stream, account) in names
                                                           for stream in streams)
                       for node in running)
        except (urllib.error.URLError, OSError, ValueError):
            return False

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


def plan_cluster(root: Path, size: int = 3, address: str = "127.0.0.1",
                 mqtt_ports: list[int] | None = None, mqtt_options: tuple[str, ...] = ()) -> NatsCluster:
    """A cluster of size nodes under root (with mqtt_options, more lines of each node's mqtt block).
    With mqtt_ports (one per node: enrolled devices keep the port they were given) the other ports
    are free ones; without, every port is chosen once and kept in root/ports.json, so a later run with
    the same root (its trust set, JetStream state and enrolled receivers) gets the same ones. The
    trust set and each node's JetStream store under root are kept either way."""
    assert mqtt_ports is None or len(mqtt_ports) == size, "one MQTT port per node"
    root.mkdir(parents=True, exist_ok=True)
    if mqtt_ports:
        free = iter(_distinct_free_ports(3 * size, address, taken=mqtt_ports))
        mqtt = iter(mqtt_ports)
    else:
        free = mqtt = iter(_kept_ports(root / "ports.json", 4 * size, address))
    nodes = [NatsNode(f"nats-{number}", root / f"nats-{number}", client_port=next(free),
                      cluster_port=next(free), mqtt_port=next(mqtt), monitor_port=next(free),
                      address=address, mqtt_options=mqtt_options)
             for number in range(1, size + 1)]
    return NatsCluster(root, nodes)


def _kept_ports(kept: Path, count: int, address: str) -> list[int]:
    chosen: list[int] = json.loads(kept.read_text()) if kept.exists() else []
    if len(chosen) != count:
        chosen = _distinct_free_ports(count, address, taken=[])
        kept.write_text(json.dumps(chosen))
    return chosen


def _distinct_free_ports(count: int, address: str, taken: list[int]) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port(address)
        if port not in ports and port not in taken:
            ports.append(port)
    return ports
