"""The Alembic migrations build exactly the schema the models describe, and can be undone."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from controller.db.models import Base
from controller.db.session import MIGRATIONS_DIR, migrate

pytestmark = pytest.mark.unit


def test_migrations_match_the_models_and_downgrade_cleanly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'schema.sqlite3'}"
    migrate(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == [], differences
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url)
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    engine.dispose()


def test_devices_enrolled_before_key_history_keep_their_key_from_their_enrolment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'history.sqlite3'}"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "0012")
    engine = create_engine(url)
    device = ("INSERT INTO devices (id, name, area_id, latitude, longitude, is_test, public_key, key_id, "
              "enrolled_at, enrolment_count, volume, desired_version, created_at) "
              "VALUES (:id, 'Loa', 'a', 0, 0, 0, :key, :kid, :at, 1, 70, 0, '2026-01-01 00:00:00')")
    with engine.begin() as connection:
        connection.execute(text(device), {"id": "enrolled", "key": "k" * 43, "kid": "0123456789abcdef",
                                          "at": "2026-02-01 00:00:00"})
        connection.execute(text(device), {"id": "never-enrolled", "key": None, "kid": None, "at": None})
    command.upgrade(config, "head")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT device_id, key_id, public_key, valid_from, valid_until "
                                       "FROM device_keys")).all()
        envelopes = connection.execute(text("SELECT COUNT(envelope) FROM device_events")).scalar()
    engine.dispose()
    enrolled = ("enrolled", "0123456789abcdef", "k" * 43, "2026-02-01 00:00:00", None)
    assert [tuple(r) for r in rows] == [enrolled]
    assert envelopes == 0
