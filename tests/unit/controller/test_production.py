"""What a production controller refuses, checked on settings objects (the refusals of the real
process are in tests/e2e/test_production_settings.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from controller.production import production_problems, weakness
from controller.settings import Settings

pytestmark = pytest.mark.unit

GOOD = "rX7-kq2Lm9vB4tZw"


@dataclass
class Values:
    """A SecretSettings with good values unless told."""

    data_dir: Path
    admin_password: SecretStr = field(default_factory=lambda: SecretStr(GOOD))
    mqtt_password: SecretStr | None = field(default_factory=lambda: SecretStr(GOOD))
    mqtt_password_file: Path | None = None
    database_url: str | None = None
    redis_url: str = f"redis://:{GOOD}@redis:6379/0"
    allow_online_root_key: bool = False


@pytest.mark.parametrize("value", ["", "   ", "admin", "change-me-admin", "ChangeMe1234567890",
                                   "my-password-is-long", "example.example.example", "0123456789abcde"])
def test_placeholders_and_short_values_are_weak(value: str) -> None:
    assert weakness(value) is not None


def test_a_random_secret_of_sixteen_characters_will_do() -> None:
    assert weakness(GOOD) is None


def test_good_values_raise_no_problem(tmp_path: Path) -> None:
    assert production_problems(Values(tmp_path)) == []


def test_sqlite_has_no_password_to_check_and_a_server_must_have_one(tmp_path: Path) -> None:
    assert production_problems(Values(tmp_path, database_url="sqlite:////var/lib/x.sqlite3")) == []
    problems = production_problems(Values(tmp_path, database_url="postgresql+psycopg://loalang@db/loalang"))
    assert problems == ["LOALANG_DATABASE_URL's password must be set"]


def test_a_percent_encoded_password_is_checked_decoded(tmp_path: Path) -> None:
    url = "postgresql+psycopg://loalang:change%2Dme%2Dpostgres@db/loalang"
    assert production_problems(Values(tmp_path, database_url=url))[0].startswith("LOALANG_DATABASE_URL's")


def test_every_problem_is_named_and_no_secret_is_repeated(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "root.key").write_text("offline material")
    password_file = tmp_path / "mqtt-password"
    password_file.write_text("Xq7-Lm2vB9\n")
    bad = Values(tmp_path, admin_password=SecretStr("change-me-admin"), mqtt_password=None,
                 mqtt_password_file=password_file, database_url="postgresql://u:Xq7-Lm2vB9@db/x",
                 redis_url="redis://redis:6379/0")
    problems = production_problems(bad)
    named = [line.split()[0] for line in problems]
    assert named == ["LOALANG_ADMIN_PASSWORD", "LOALANG_MQTT_PASSWORD_FILE's", "LOALANG_DATABASE_URL's",
                     "LOALANG_REDIS_URL", "the"]
    assert "LOALANG_ALLOW_ONLINE_ROOT_KEY=true" in problems[-1]
    assert not any(secret in "\n".join(problems) for secret in ("change-me-admin", "Xq7-Lm2vB9"))


def test_the_root_key_is_allowed_online_only_when_told(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "root.key").write_text("offline material")
    assert production_problems(Values(tmp_path, allow_online_root_key=True)) == []


def test_the_settings_error_names_the_settings_and_repeats_no_value(tmp_path: Path) -> None:
    secrets = {"admin_password": "Xq7-Lm2vB9", "mqtt_password": "change-me-mqtt-controller",
               "redis_url": "redis://:Xq7-Lm2vB8@redis:6379/0"}
    with pytest.raises(ValidationError) as refused:
        Settings(environment="production", data_dir=tmp_path, **secrets)  # type: ignore[arg-type]
    message = str(refused.value)
    for name in ("LOALANG_ADMIN_PASSWORD", "LOALANG_MQTT_PASSWORD", "LOALANG_REDIS_URL"):
        assert name in message
    assert not any(secret in message for secret in ("Xq7-Lm2vB9", "change-me-mqtt", "Xq7-Lm2vB8")), message
