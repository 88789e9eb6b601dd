"""The stack the live benchmarks run on: the project's own Mosquitto, Redis and controller, started by
loalang_stack.stack.

The controller runs with its LOALANG_LIVE_* settings at their defaults; a fleet driver logged in
as its admin enrols and starts the receiver agents.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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
