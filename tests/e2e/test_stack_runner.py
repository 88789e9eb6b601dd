"""The stack runner stops what it started, in reverse order, also when starting fails."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from loalang_stack.process import Server
from loalang_stack.stack import LocalStack

pytestmark = pytest.mark.e2e


def _running(server: Server | None) -> bool:
    return server is not None and server.process is not None and server.process.poll() is None


def test_everything_started_is_stopped_last_first(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="loalang_stack.process")
    with LocalStack(tmp_path) as stack:
        stack.start_broker()
        first_broker = stack.broker
        stack.restart_broker()
        stack.start_redis(password="a-long-redis-password-for-this-test")
        assert stack.redis_url.startswith("redis://:a-long-redis-password-for-this-test@127.0.0.1:")
        assert stack.controller_env()["LOALANG_MQTT_PORT"] == str(stack.mqtt_port)
        assert stack.broker_config is not None
        assert stack.mqtt_password == stack.broker_config.password_file.read_text().strip()
        running = [stack.broker, stack.redis]
        caplog.clear()
    assert [r.getMessage() for r in caplog.records] == ["redis stopped", "mosquitto stopped"]
    assert not _running(first_broker)
    assert not any(_running(server) for server in running)


def test_a_failed_start_stops_what_was_started(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path)
    with pytest.raises(RuntimeError, match="controller exited"), stack:
        stack.start_broker()
        stack.start_redis()
        stack.start_controller({"LOALANG_ENVIRONMENT": "production", "LOALANG_ADMIN_PASSWORD": "change-me"})
    assert not _running(stack.broker)
    assert not _running(stack.redis)
    assert stack.controller is not None and not _running(stack.controller.server)
