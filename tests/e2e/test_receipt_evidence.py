"""Receipts stay evidence: a device plays, enrols again with a new key, plays again; `radio-controller
receipts verify` proves both periods' receipts against the key the device held then, and reports a row
changed in the database."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import undefer

from controller.db.models import DeviceEvent as StoredEvent
from controller.db.session import Database
from loalang_stack.services import ControllerProcess
from tests.testkit import BIN, Fleet, receipts, schedule, wait_for

pytestmark = pytest.mark.e2e


def play_a_tone(fleet: Fleet, device_id: str, hz: float) -> str:
    """Schedule a short tone for the device and wait for its completed receipt; returns the occurrence."""
    tone = schedule(fleet, device_id=device_id, level="normal", start_ms=int(time.time() * 1000) + 3000,
                    duration_ms=1000, source={"type": "tone", "frequency_hz": hz})
    def completed() -> bool:
        return any(r["data"].get("occurrence") == tone for r in receipts(fleet, device_id, "completed"))

    wait_for(completed, 30.0, what=f"the {hz} Hz tone completed")
    return tone


def enrol_again(fleet: Fleet, device_id: str, config: Path) -> None:
    """A new claim code, and the board enrols with it: a new key pair."""
    code = fleet.http.post(f"/api/v1/devices/{device_id}/claim-code").json()["claim_code"]
    result = fleet.enroll(code, config.parent)
    assert result.returncode == 0, result.stderr


def verify_receipts(controller: ControllerProcess, *options: str) -> subprocess.CompletedProcess[str]:
    """Run the real `radio-controller receipts verify` on the controller's database."""
    env = {**os.environ, **controller.env, "LOALANG_DATA_DIR": str(controller.data_dir)}
    return subprocess.run([str(BIN / "radio-controller"), "receipts", "verify", *options],
                          capture_output=True, text=True, timeout=60, env=env)


def summary_count(output: str, label: str) -> int:
    [line] = [line for line in output.splitlines() if line.strip().startswith(f"{label}:")]
    return int(line.split(":")[-1])


def database_of(controller: ControllerProcess) -> Database:
    """The controller's own database (SQLite in its data folder, or the PostgreSQL it was given)."""
    default = f"sqlite:///{(controller.data_dir / 'loalang.sqlite3').resolve()}"
    return Database(controller.env.get("LOALANG_DATABASE_URL") or default)


def stored_events_of(database: Database, device_id: str) -> list[StoredEvent]:
    """The device's stored events, oldest first."""
    with database.session() as session:
        query = select(StoredEvent).where(StoredEvent.device_id == device_id).order_by(StoredEvent.id)
        return list(session.scalars(query))


def signing_key_ids(database: Database, event_ids: list[int]) -> list[str]:
    """The key id in each stored event's envelope."""
    with database.session() as session:
        query = (select(StoredEvent).options(undefer(StoredEvent.envelope))
                 .where(StoredEvent.id.in_(event_ids)).order_by(StoredEvent.id))
        return [json.loads(event.envelope or "{}").get("kid") for event in session.scalars(query)]


def change_rows(database: Database, changes: dict[int, dict[str, Any]]) -> None:
    """Change stored events behind the controller's back, as someone with the database could."""
    with database.session() as session:
        for event_id, values in changes.items():
            session.execute(update(StoredEvent).where(StoredEvent.id == event_id).values(**values))


def test_receipts_of_both_keys_verify_and_a_changed_row_is_reported(fleet: Fleet) -> None:
    database = database_of(fleet.controller)
    device_id, config = fleet.enrolled_agent()
    first_agent = fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 10.0, what="online")
    first = play_a_tone(fleet, device_id, 600)
    first_agent.stop()
    enrol_again(fleet, device_id, config)
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 10.0, what="online with its new key")
    second = play_a_tone(fleet, device_id, 800)

    stored = stored_events_of(database, device_id)
    completed = {e.data["occurrence"]: e for e in stored if e.type == "completed"}
    checked = verify_receipts(fleet.controller, "--device", device_id)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert summary_count(checked.stdout, "verified") == len(stored) >= 4
    assert summary_count(checked.stdout, "failed") == 0
    kids = signing_key_ids(database, [completed[first].id, completed[second].id])
    assert None not in kids and kids[0] != kids[1], "the two plays were signed by two keys"
    since = min(e.occurred_at for e in stored if e.type == "completed" and e.data["occurrence"] == second)
    of_second = verify_receipts(fleet.controller, "--device", device_id, "--since", since.isoformat())
    assert 0 < summary_count(of_second.stdout, "verified") < len(stored), of_second.stdout

    forged, unproven = completed[first], completed[second]
    change_rows(database, {forged.id: {"data": {**forged.data, "occurrence": "never-aired"}},
                           unproven.id: {"envelope": None}})
    tampered = verify_receipts(fleet.controller, "--device", device_id)
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    assert summary_count(tampered.stdout, "failed") == 1
    assert summary_count(tampered.stdout, "row_differs") == 1
    assert summary_count(tampered.stdout, "verified") == len(stored) - 2
    assert summary_count(tampered.stdout, "without evidence (stored before envelopes were kept)") == 1
    assert f"event {forged.id} device {device_id}" in tampered.stdout
    assert "stored data differ from what was signed" in tampered.stdout
