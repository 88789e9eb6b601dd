"""Redis holds the sessions: it asks every client for its password, and the controller gives it, to
the Redis itself and to the Sentinels that name the master (a Sentinel anybody may ask could be told
by anybody to name a Redis of theirs)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loalang_stack import redis
from loalang_stack.ports import free_port
from loalang_stack.process import Server
from loalang_stack.services import ControllerProcess
from tests.testkit import ADMIN_PASSWORD, Stack, own_controller

pytestmark = pytest.mark.e2e

API = "/api/v1"
PASSWORD = "Hn3-pW8qL2xVt6Rk-zY4"
MASTER_NAME = "loalang-secured"


@pytest.fixture
def secured_redis(tmp_path: Path) -> Iterator[int]:
    """A Redis that asks for PASSWORD; yields its port."""
    port = free_port()
    server = redis.start(tmp_path / "redis", port, password=PASSWORD)
    yield port
    server.stop()


def redis_cli(port: int, *command: str) -> str:
    """What redis-cli prints for command on port, without a password."""
    done = subprocess.run(["redis-cli", "-p", str(port), *command], capture_output=True, text=True,
                          timeout=10)
    return done.stdout + done.stderr


def logs_in(controller: ControllerProcess) -> bool:
    """Whether the admin's login works (it takes an attempt from the rate limit kept in Redis)."""
    answer = httpx.post(f"{controller.url}{API}/auth/token",
                        data={"username": "admin", "password": ADMIN_PASSWORD}, timeout=10)
    return answer.status_code == 200


def test_redis_refuses_a_client_without_the_password(secured_redis: int) -> None:
    assert "NOAUTH" in redis_cli(secured_redis, "SET", "loalang:token:forged", "admin")
    assert "NOAUTH" in redis_cli(secured_redis, "KEYS", "*")


def test_the_controller_works_against_a_redis_with_a_password(stack: Stack, secured_redis: int,
                                                              tmp_path: Path) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{secured_redis}/0"
    with own_controller(stack, tmp_path, LOALANG_REDIS_URL=url) as controller:
        assert logs_in(controller)


def test_a_controller_without_the_password_cannot_use_that_redis(stack: Stack, secured_redis: int,
                                                                 tmp_path: Path) -> None:
    without_password = f"redis://127.0.0.1:{secured_redis}/0"
    with (pytest.raises(RuntimeError, match="controller exited") as refused,
          own_controller(stack, tmp_path, LOALANG_REDIS_URL=without_password)):
        pass
    assert "AuthenticationError" in str(refused.value)


@pytest.fixture
def secured_sentinel(secured_redis: int, tmp_path: Path) -> Iterator[int]:
    """A Sentinel that asks for PASSWORD and watches the secured Redis; yields its port."""
    port = free_port()
    sentinel: Server = redis.start_sentinel(tmp_path / "sentinel", port, MASTER_NAME, secured_redis,
                                            password=PASSWORD)
    yield port
    sentinel.stop()


def test_sentinels_that_ask_for_the_password_are_given_it(stack: Stack, secured_sentinel: int,
                                                          tmp_path: Path) -> None:
    assert "NOAUTH" in redis_cli(secured_sentinel, "SENTINEL", "get-master-addr-by-name", MASTER_NAME)
    with own_controller(stack, tmp_path, LOALANG_REDIS_URL=f"redis://:{PASSWORD}@ignored/0",
                        LOALANG_REDIS_SENTINELS=f"127.0.0.1:{secured_sentinel}",
                        LOALANG_REDIS_SENTINEL_MASTER=MASTER_NAME) as controller:
        assert logs_in(controller)
