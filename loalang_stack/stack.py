"""One runner for the local stack: the servers `make demo`, the tests and the benchmarks start.

    with LocalStack(root) as stack:
        stack.start_broker()
        stack.start_redis(password="...")
        controller = stack.start_controller({"LOALANG_ADMIN_PASSWORD": "..."})
        stack.start_simulator(3, ["thon-a"], admin_password="...")
        ...

Each start_* method starts one server (on a free port unless given one), waits until it answers and
keeps its port, password and URL on the stack; the controller is pointed at whatever broker, Redis
and PostgreSQL the stack runs. Leaving the `with` block (also on an error, also one raised while
starting) stops everything that was started, in reverse order. running() does the usual set in one
call: broker, Redis and a controller.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from . import broker, icecast, nats, postgres, redis
from .broker import BrokerConfig
from .icecast import Icecast
from .nats import NatsCluster
from .ports import free_port
from .process import Server
from .services import ControllerProcess, _program

LOCALHOST = "127.0.0.1"


class LocalStack:
    """Servers started on request under root, stopped in reverse order by stop() or the `with` block."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._stops: list[Callable[[], None]] = []
        self.broker_config: BrokerConfig | None = None
        self.broker: Server | None = None
        self.mqtt_password = ""  # the controller's broker account (loalang-controller)
        self.redis: Server | None = None
        self.redis_port = 0
        self.redis_password: str | None = None
        self.redis_replicas: list[tuple[Server, int]] = []
        self.sentinels: list[tuple[Server, int]] = []
        self.postgres: Server | None = None
        self.database_url: str | None = None
        self.controller: ControllerProcess | None = None
        self.icecast: Icecast | None = None
        self.nats: NatsCluster | None = None
        self.simulators: list[Server] = []

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    # -- the servers ---------------------------------------------------------------------------

    def start_broker(self, port: int | None = None, tls_port: int | None = None, tls_dir: Path | None = None,
                     tls_address: str | None = None) -> BrokerConfig:
        """Mosquitto with the project's configuration and dynamic security (its state in root/broker,
        kept for a later run); with tls_port, a TLS listener too (see BrokerConfig)."""
        config = BrokerConfig(self.root / "broker", port or free_port(), tls_port=tls_port, tls_dir=tls_dir,
                              tls_address=tls_address)
        self.broker, self.mqtt_password = broker.start(config)
        self.broker_config = config
        self._stops.append(self._stop_broker)
        return config

    def _stop_broker(self) -> None:
        if self.broker is not None:
            self.broker.stop()  # the one running now: restart_broker() may have replaced it

    def restart_broker(self) -> None:
        """Stop and start the broker on the same port with the same state."""
        assert self.broker is not None and self.broker_config is not None, "start_broker() first"
        self.broker.stop()
        self.broker, _ = broker.start(self.broker_config)

    @property
    def mqtt_port(self) -> int:
        """The broker's port: Mosquitto's, or the first NATS node's MQTT port."""
        if self.broker_config is None and self.nats is not None:
            return self.nats.nodes[0].mqtt_port
        assert self.broker_config is not None, "start_broker() or start_nats_cluster() first"
        return self.broker_config.port

    def start_nats_cluster(self, size: int = 3, timeout: float = 20.0,
                           mqtt_ports: list[int] | None = None,
                           mqtt_options: tuple[str, ...] = ()) -> NatsCluster:
        """A NATS cluster of size nodes with MQTT and JetStream, on free loopback ports (the nodes' MQTT
        ports are mqtt_ports when given), its state in root/nats, in operator mode (its trust set in
        root/nats/trust, kept for a later run), mqtt_options added to each node's mqtt block; waits
        until every node is healthy."""
        cluster = nats.plan_cluster(self.root / "nats", size, mqtt_ports=mqtt_ports,
                                    mqtt_options=mqtt_options)
        self._stops.append(cluster.stop)
        cluster.start(timeout)
        self.nats = cluster
        if self.broker_config is None:  # the cluster is the stack's broker
            self.mqtt_password = cluster.controller_password
        return cluster

    def start_redis(self, port: int | None = None, password: str | None = None) -> int:
        """Redis (asking every client for password, when given); returns its port."""
        self.redis_port = port or free_port()
        self.redis_password = password
        self.redis = self._started(redis.start(self.root / "redis", self.redis_port, password=password))
        return self.redis_port

    def start_redis_replica(self, port: int | None = None) -> int:
        """A replica of the stack's Redis (same password); returns its port."""
        assert self.redis is not None, "start_redis() first"
        port = port or free_port()
        folder = self.root / f"redis-replica-{len(self.redis_replicas) + 1}"
        server = self._started(redis.start(folder, port, replica_of=self.redis_port,
                                           password=self.redis_password))
        self.redis_replicas.append((server, port))
        return port

    def start_sentinel(self, master_name: str, port: int | None = None, down_after_ms: int = 2000,
                       failover_timeout_ms: int = 10_000) -> int:
        """A Redis Sentinel watching the stack's Redis as master_name; returns its port."""
        assert self.redis is not None, "start_redis() first"
        port = port or free_port()
        folder = self.root / f"sentinel-{len(self.sentinels) + 1}"
        server = self._started(redis.start_sentinel(folder, port, master_name, self.redis_port,
                                                    password=self.redis_password,
                                                    down_after_ms=down_after_ms,
                                                    failover_timeout_ms=failover_timeout_ms))
        self.sentinels.append((server, port))
        return port

    @property
    def redis_url(self) -> str:
        """The URL of the stack's Redis, database 0."""
        assert self.redis is not None, "start_redis() first"
        auth = f":{self.redis_password}@" if self.redis_password else ""
        return f"redis://{auth}{LOCALHOST}:{self.redis_port}/0"

    def start_postgres(self, port: int | None = None) -> str:
        """A throw-away PostgreSQL cluster (removed when stopped); returns its SQLAlchemy URL."""
        server, url, cluster = postgres.start(self.root, port or free_port())
        self.postgres, self.database_url = server, url

        def stop() -> None:
            server.stop()
            shutil.rmtree(cluster, ignore_errors=True)

        self._stops.append(stop)
        return url

    def controller_env(self) -> dict[str, str]:
        """LOALANG_* settings pointing a controller at the stack's broker, Redis and PostgreSQL."""
        env: dict[str, str] = {}
        if self.broker_config is not None:
            env.update({"LOALANG_MQTT_HOST": LOCALHOST, "LOALANG_MQTT_PORT": str(self.mqtt_port),
                        "LOALANG_MQTT_PASSWORD_FILE": str(self.broker_config.password_file)})
        elif self.nats is not None:
            env.update({"LOALANG_BROKER_KIND": "nats", "LOALANG_MQTT_HOST": LOCALHOST,
                        "LOALANG_MQTT_PORT": str(self.mqtt_port),
                        "LOALANG_MQTT_ADDRESSES": self.nats.mqtt_addresses,
                        "LOALANG_NATS_SERVERS": self.nats.nats_servers,
                        "LOALANG_NATS_TRUST_DIR": str(self.nats.trust_dir / "controller")})
        if self.redis is not None:
            env["LOALANG_REDIS_URL"] = self.redis_url
        if self.database_url is not None:
            env["LOALANG_DATABASE_URL"] = self.database_url
        return env

    def start_controller(self, settings: dict[str, str] | None = None, port: int | None = None,
                         folder: Path | None = None, timeout: float = 30.0) -> ControllerProcess:
        """`radio-controller serve` on the stack (settings, LOALANG_* variables, win over
        controller_env()), its files in folder (default root/controller); waits until healthy."""
        process = ControllerProcess(folder or self.root / "controller", port or free_port(),
                                    {**self.controller_env(), **(settings or {})})
        self._stops.append(process.stop)
        self.controller = process
        process.start(timeout)
        return process

    def start_simulator(self, count: int, areas: list[str], admin_password: str,
                        options: list[str] | None = None, data_dir: Path | None = None,
                        log_level: str | None = None, stop_timeout: float = 5.0) -> Server:
        """`receiver-agent simulate`: count receivers in areas, registered with the admin's password and
        enrolled through the stack's controller; options are more of simulate's (--prefix, ...)."""
        assert self.controller is not None, "start_controller() first"
        argv = [_program("receiver-agent")]
        if log_level is not None:
            argv += ["--log-level", log_level]
        argv += ["simulate", "--count", str(count), "--controller", self.controller.url,
                 "--data-dir", str(data_dir or self.root / "receivers")]
        for area in areas:
            argv += ["--area", area]
        argv += options or []
        name = f"receivers-{len(self.simulators)}" if self.simulators else "receivers"
        server = Server(name, argv, self.root / f"{name}.log",
                        {**os.environ, "LOALANG_SIM_ADMIN_PASSWORD": admin_password})
        self._stops.append(lambda: server.stop(timeout=stop_timeout))
        server.start()
        self.simulators.append(server)
        return server

    def start_icecast(self, port: int | None = None) -> Icecast:
        """A local Icecast2 server: a station to relay."""
        self.icecast = icecast.start(self.root / "icecast", port or free_port())
        self._stops.append(self.icecast.stop)
        return self.icecast

    def _started(self, server: Server) -> Server:
        self._stops.append(server.stop)
        return server

    def stop(self) -> None:
        """Stop everything started, the last started first; one that fails to stop stops no other."""
        errors: list[BaseException] = []
        while self._stops:
            try:
                self._stops.pop()()
            except Exception as exc:  # stop the rest, then report the first
                errors.append(exc)
        if errors:
            raise errors[0]


@contextmanager
def running(root: Path, settings: dict[str, str] | None = None, redis_password: str | None = None,
            ports: dict[str, int] | None = None, controller_timeout: float = 30.0) -> Iterator[LocalStack]:
    """Broker, Redis and a controller (with settings) under root, stopped at the end; ports may name
    the "mqtt", "redis" and "http" ports (default: free ones)."""
    chosen = ports or {}
    with LocalStack(root) as stack:
        stack.start_broker(chosen.get("mqtt"))
        stack.start_redis(chosen.get("redis"), password=redis_password)
        stack.start_controller(settings, chosen.get("http"), timeout=controller_timeout)
        yield stack
