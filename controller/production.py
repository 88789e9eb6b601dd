"""What production refuses at start: placeholder or short secrets, and the root private key online.

Each check names the setting at fault and never the secret itself. The broker account administers
every device account, the database and Redis hold the users and the sessions: a default password on
any of them is a way onto the air, so a production controller stops before it listens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import SecretStr
from redis.asyncio.connection import parse_url
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .keyring import KEYS_DIR, ROOT_KEY

MIN_SECRET_LENGTH = 16
PLACEHOLDER_MARKERS = ("change-me", "changeme", "change_me", "example", "password", "secret", "placeholder")
PLACEHOLDER_VALUES = {"admin", "loalang", "redis", "postgres", "root", "test", "demo"}
ALLOW_ONLINE_ROOT = "LOALANG_ALLOW_ONLINE_ROOT_KEY"


class SecretSettings(Protocol):
    """The settings the checks read (controller.settings.Settings has them)."""

    @property
    def admin_password(self) -> SecretStr: ...
    @property
    def mqtt_password(self) -> SecretStr | None: ...
    @property
    def mqtt_password_file(self) -> Path | None: ...
    @property
    def database_url(self) -> str | None: ...
    @property
    def redis_url(self) -> str: ...
    @property
    def data_dir(self) -> Path: ...
    @property
    def allow_online_root_key(self) -> bool: ...


def weakness(value: str) -> str | None:
    """Why value is not a production secret (placeholder, too short), or None when it will do."""
    lowered = value.strip().lower()
    if not lowered:
        return "is empty"
    if lowered in PLACEHOLDER_VALUES or any(marker in lowered for marker in PLACEHOLDER_MARKERS):
        return "is a placeholder"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    return None


def _secret_problem(setting: str, value: str | None) -> str | None:
    """One line naming setting when its value is missing or weak."""
    if value is None:
        return f"{setting} must be set"
    reason = weakness(value)
    return f"{setting} {reason}; set a random secret of {MIN_SECRET_LENGTH}+ characters" if reason else None


def broker_password_problem(settings: SecretSettings) -> str | None:
    """The controller's broker account administers every other: its password must be real."""
    if settings.mqtt_password is not None:
        return _secret_problem("LOALANG_MQTT_PASSWORD", settings.mqtt_password.get_secret_value())
    if settings.mqtt_password_file is None:
        return "LOALANG_MQTT_PASSWORD or LOALANG_MQTT_PASSWORD_FILE must be set"
    try:
        content = settings.mqtt_password_file.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return f"LOALANG_MQTT_PASSWORD_FILE ({settings.mqtt_password_file}) cannot be read"
    return _secret_problem("LOALANG_MQTT_PASSWORD_FILE's content", content)


def database_password_problem(settings: SecretSettings) -> str | None:
    """A database server's password must be real; SQLite has none."""
    if not settings.database_url:
        return None
    try:
        url = make_url(settings.database_url)
    except ArgumentError:
        return "LOALANG_DATABASE_URL is not a database URL"
    if url.get_backend_name() == "sqlite":
        return None
    return _secret_problem("LOALANG_DATABASE_URL's password", url.password)


def redis_password_problem(settings: SecretSettings) -> str | None:
    """Redis holds the sessions: it must ask for a password, and a real one."""
    try:
        password = parse_url(settings.redis_url).get("password")
    except ValueError:
        return "LOALANG_REDIS_URL is not a Redis URL"
    if password is None:
        return "LOALANG_REDIS_URL must carry a password (redis://:PASSWORD@host:6379/0)"
    return _secret_problem("LOALANG_REDIS_URL's password", password)


def root_key_problem(settings: SecretSettings) -> str | None:
    """The root private key certifies signing keys: it belongs offline, not beside the controller."""
    root_key = settings.data_dir / KEYS_DIR / ROOT_KEY
    if settings.allow_online_root_key or not root_key.exists():
        return None
    return (f"the root private key {root_key} is on the controller; move it to offline storage "
            f"(the controller needs only root.pub, signing.key and signing.cert.json), or set "
            f"{ALLOW_ONLINE_ROOT}=true to run with it")


def production_problems(settings: SecretSettings) -> list[str]:
    """Everything a production controller must not start with, one line each."""
    checks = (
        _secret_problem("LOALANG_ADMIN_PASSWORD", settings.admin_password.get_secret_value()),
        broker_password_problem(settings),
        database_password_problem(settings),
        redis_password_problem(settings),
        root_key_problem(settings),
    )
    return [problem for problem in checks if problem is not None]
