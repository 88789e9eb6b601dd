"""A production controller refuses to start on a placeholder or short secret, and with the root
private key beside it; it starts with real secrets against a Redis that asks for its password.

Each refusal runs the real `radio-controller serve` with one bad value among good ones (a running
broker, a password-protected Redis, a PostgreSQL that accepts the bad password): it must exit
non-zero, name the setting and never print the secret.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from loalang_stack import postgres, redis
from loalang_stack.ports import free_port
from loalang_stack.process import Server
from loalang_stack.services import ControllerProcess
from tests.testkit import BIN, Stack, own_stack, token_request

pytestmark = pytest.mark.e2e

ADMIN = "rX7-kq2Lm9vB4tZw"  # 16 characters, nothing of a placeholder
REDIS_PASSWORD = "Hn3-pW8qL2xVt6Rk-zY4"
WEAK_POSTGRES_PASSWORD = "change-me-postgres"  # docker-compose.yml's former default
STARTED_AFTER_S = 20.0  # a refusal comes within a second or two; still running by then, it started


@pytest.fixture(scope="module")
def secured_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A Redis that asks every client for REDIS_PASSWORD; yields its port."""
    port = free_port()
    server = redis.start(tmp_path_factory.mktemp("secured-redis"), port, password=REDIS_PASSWORD)
    yield port
    server.stop()


@pytest.fixture(scope="module")
def weak_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL whose account has the compose file's former default password; yields its URL."""
    server, url, cluster = postgres.start(tmp_path_factory.mktemp("weak-postgres"), free_port())
    try:
        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
            conn.execute(f"ALTER ROLE {postgres.USER} PASSWORD '{WEAK_POSTGRES_PASSWORD}'")
        yield url.replace(postgres.PASSWORD, WEAK_POSTGRES_PASSWORD)
    finally:
        stop_cluster(server, cluster)


def stop_cluster(server: Server, cluster: Path) -> None:
    """Stop a test PostgreSQL and remove its files."""
    server.stop()
    shutil.rmtree(cluster, ignore_errors=True)


def controller_folder(folder: Path, keep_root: bool) -> Path:
    """folder with keys made by `radio-controller keys init`, the root private key kept or not."""
    keys_init = [str(BIN / "radio-controller"), "keys", "init", "--dir", str(folder / "keys")]
    made = subprocess.run(keys_init + ([] if keep_root else ["--remove-root"]), capture_output=True,
                          text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    return folder


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A controller folder holding root.pub and a certified signing key, the root key kept offline."""
    return controller_folder(tmp_path / "controller", keep_root=False)


@pytest.fixture
def online_root_dir(tmp_path: Path, production: dict[str, str]) -> Path:
    """A controller folder with the root private key beside the signing key (production's database
    moved into it)."""
    folder = controller_folder(tmp_path / "online-root", keep_root=True)
    production["LOALANG_DATABASE_URL"] = f"sqlite:///{folder / 'production.sqlite3'}"
    return folder


@pytest.fixture
def own(stack: Stack, tmp_path: Path) -> Iterator[Stack]:
    """A broker of the test's own: a production controller there (its own keys, the default instance
    name) neither takes the session controller's connection nor says it went offline."""
    with own_stack(stack, tmp_path) as broker_of_its_own:
        yield broker_of_its_own


@pytest.fixture
def production(own: Stack, secured_redis: int, data_dir: Path) -> dict[str, str]:
    """Good production settings against the test's stack: every secret real."""
    return {
        **own.controller_env(),
        "LOALANG_ENVIRONMENT": "production",
        "LOALANG_ADMIN_PASSWORD": ADMIN,
        "LOALANG_REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{secured_redis}/0",
        "LOALANG_DATABASE_URL": f"sqlite:///{data_dir / 'production.sqlite3'}",
    }


def refusal(data_dir: Path, settings: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `radio-controller serve` with settings; fail the test when it starts instead of exiting."""
    env = {**os.environ, **settings, "LOALANG_DATA_DIR": str(data_dir), "LOALANG_HTTP_PORT": str(free_port())}
    try:
        return subprocess.run([str(BIN / "radio-controller"), "serve"], capture_output=True, text=True,
                              env=env, timeout=STARTED_AFTER_S)
    except subprocess.TimeoutExpired:
        pytest.fail("the controller started in production with the bad value")


def assert_refused(result: subprocess.CompletedProcess[str], setting: str, secret: str) -> None:
    """The controller exited non-zero, naming setting, without printing secret."""
    assert result.returncode != 0, result.stderr
    assert "production refuses to start" in result.stderr, result.stderr
    assert setting in result.stderr, result.stderr
    if secret:
        assert secret not in result.stderr + result.stdout, "the secret was printed"


BAD_SECRETS = {
    "broker password, compose default": ("LOALANG_MQTT_PASSWORD", "change-me-mqtt-controller"),
    "broker password, short": ("LOALANG_MQTT_PASSWORD", "Xq7-Lm2vB9"),
    "broker password, a placeholder word": ("LOALANG_MQTT_PASSWORD", "my-broker-secret-value"),
    "admin password, compose default": ("LOALANG_ADMIN_PASSWORD", "change-me-admin"),
    "admin password, 15 characters": ("LOALANG_ADMIN_PASSWORD", "rX7-kq2Lm9vB4tZ"),
    "admin password, an example": ("LOALANG_ADMIN_PASSWORD", "example-example-example"),
}


@pytest.mark.parametrize("case", sorted(BAD_SECRETS))
def test_production_refuses_a_placeholder_or_short_secret(production: dict[str, str], data_dir: Path,
                                                         case: str) -> None:
    setting, value = BAD_SECRETS[case]
    assert_refused(refusal(data_dir, {**production, setting: value}), setting, value)


def test_production_refuses_a_placeholder_in_the_broker_password_file(production: dict[str, str],
                                                                     data_dir: Path, tmp_path: Path) -> None:
    password_file = tmp_path / "mqtt-password"
    password_file.write_text("changeme\n")
    result = refusal(data_dir, {**production, "LOALANG_MQTT_PASSWORD_FILE": str(password_file)})
    assert_refused(result, "LOALANG_MQTT_PASSWORD_FILE", "changeme")


def test_production_refuses_a_redis_without_password(production: dict[str, str], data_dir: Path,
                                                     stack: Stack) -> None:
    open_redis = f"redis://127.0.0.1:{stack.redis_port}/0"
    result = refusal(data_dir, {**production, "LOALANG_REDIS_URL": open_redis})
    assert_refused(result, "LOALANG_REDIS_URL", "")


@pytest.mark.parametrize("password", ["changeme-redis-1234", "Xq7-Lm2vB9"])
def test_production_refuses_a_weak_redis_password(production: dict[str, str], data_dir: Path,
                                                  tmp_path: Path, password: str) -> None:
    port = free_port()
    weak_redis = redis.start(tmp_path / "weak-redis", port, password=password)
    try:
        url = f"redis://:{password}@127.0.0.1:{port}/0"
        result = refusal(data_dir, {**production, "LOALANG_REDIS_URL": url})
    finally:
        weak_redis.stop()
    assert_refused(result, "LOALANG_REDIS_URL", password)


def test_production_refuses_the_default_postgres_password(production: dict[str, str], data_dir: Path,
                                                          weak_postgres: str) -> None:
    result = refusal(data_dir, {**production, "LOALANG_DATABASE_URL": weak_postgres})
    assert_refused(result, "LOALANG_DATABASE_URL", WEAK_POSTGRES_PASSWORD)


def test_production_refuses_the_root_private_key_online(production: dict[str, str],
                                                        online_root_dir: Path) -> None:
    result = refusal(online_root_dir, production)
    assert_refused(result, "LOALANG_ALLOW_ONLINE_ROOT_KEY", "")
    assert "root.key" in result.stderr


def admin_login_status(controller: ControllerProcess) -> int:
    """The status of the admin's login (which also takes an attempt from Redis's rate limit)."""
    return token_request(controller.url, "admin", ADMIN, timeout=10).status_code


def test_production_starts_with_real_secrets_and_the_root_key_offline(production: dict[str, str],
                                                                     data_dir: Path) -> None:
    controller = ControllerProcess(data_dir, free_port(), production)
    controller.start()
    try:
        assert admin_login_status(controller) == 200
    finally:
        controller.stop()


def test_production_starts_with_the_root_key_online_when_told(production: dict[str, str],
                                                             online_root_dir: Path) -> None:
    allowed = {**production, "LOALANG_ALLOW_ONLINE_ROOT_KEY": "true"}
    controller = ControllerProcess(online_root_dir, free_port(), allowed)
    controller.start()
    try:
        assert admin_login_status(controller) == 200
    finally:
        controller.stop()
