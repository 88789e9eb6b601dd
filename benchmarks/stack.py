"""The stack the live benchmarks run on: the project's own Mosquitto, Redis and controller.

The controller runs with its LOALANG_LIVE_* settings at their defaults; a fleet driver logged in
as its admin enrols and starts the receiver agents.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loalang_stack import broker, redis
from loalang_stack.broker import BrokerConfig
from loalang_stack.ports import free_port
from loalang_stack.services import ControllerProcess
from tests.testkit import Fleet

PASSWORD = "benchmark-admin-password"


@dataclass
class LiveStack:
    """A running broker, Redis and controller, and a fleet driver logged in as the admin."""

    fleet: Fleet
    controller: ControllerProcess
    mqtt_port: int
    mqtt_password: str  # the controller's broker account
    redis_port: int


def controller_env(config: BrokerConfig, redis_port: int) -> dict[str, str]:
    """The controller's settings: this broker and Redis, the admin's password, live defaults."""
    return {
        "LOALANG_ENVIRONMENT": "test", "LOALANG_ADMIN_PASSWORD": PASSWORD,
        "LOALANG_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "LOALANG_MQTT_PORT": str(config.port),
        "LOALANG_MQTT_PASSWORD_FILE": str(config.password_file), "LOALANG_LOG_LEVEL": "WARNING",
    }


@contextmanager
def live_stack(root: Path, **settings: str) -> Iterator[LiveStack]:
    """Start broker, Redis and controller (with extra LOALANG_* settings) under root; the agents and all
    three are stopped at the end."""
    with ExitStack() as started:
        config = BrokerConfig(root / "broker", free_port())
        mqtt_server, password = broker.start(config)
        started.callback(mqtt_server.stop)
        redis_port = free_port()
        started.callback(redis.start(root / "redis", redis_port).stop)
        env = {**controller_env(config, redis_port), **settings}
        controller = ControllerProcess(root / "controller", free_port(), env)
        started.callback(controller.stop)
        controller.start()
        fleet = Fleet(controller, root / "agents", password=PASSWORD)
        started.callback(fleet.close)
        yield LiveStack(fleet, controller, config.port, password, redis_port)


def machine() -> str:
    """The machine the figures were measured on."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
