"""Shared fixtures: the project's own Mosquitto and Redis on free ports, and the controller."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from loalang_stack import broker, redis
from loalang_stack.broker import BrokerConfig
from loalang_stack.ports import free_port
from tests.testkit import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Mosquitto (with dynamic security) and Redis, started once for the session."""
    for program in ("mosquitto", "redis-server", "mosquitto_pub"):
        if shutil.which(program) is None and not Path(f"/usr/sbin/{program}").exists():
            pytest.fail(f"{program} is not installed; run `make test`, which installs it")
    root = tmp_path_factory.mktemp("stack")
    config = BrokerConfig(root / "broker", free_port())
    mqtt, password = broker.start(config)
    redis_port = free_port()
    redis_server = redis.start(root / "redis", redis_port)
    running = Stack(root, config, mqtt, password, redis_server, redis_port)
    yield running
    running.redis.stop()
    running.broker.stop()  # the broker now running: a test may have restarted it
