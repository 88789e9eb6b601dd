"""Stored receipts checked as evidence: against the key the device held when each arrived, field by field,
over a database read a chunk at a time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from controller.db.models import DeviceEvent as StoredEvent
from controller.db.session import Database, migrate
from controller.fleet import device_keys
from controller.reports import evidence
from loalang_protocol import topics
from loalang_protocol.canonical import canonical_json
from loalang_protocol.envelope import Counter, seal
from loalang_protocol.keys import KeyPair
from loalang_protocol.topics import DeviceTopic

pytestmark = pytest.mark.unit

DEVICE = "loa-chung-cu"
START = datetime(2026, 11, 1, tzinfo=UTC)
RE_ENROLLED = START + timedelta(days=10)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'evidence.sqlite3'}"
    migrate(url)
    db = Database(url)
    yield db
    db.engine.dispose()


def enrol(db: Database, key: KeyPair, at: datetime) -> None:
    with db.session() as session:
        device_keys.start_key(session, DEVICE, key.public_text, key.kid, at)


def store(db: Database, key: KeyPair, number: int, received_at: datetime, **row: Any) -> None:
    """Receipt number signed by key, stored as the intake stores it (row: columns to store otherwise)."""
    seq = number
    body = {"install_id": "i-1", "seq": seq, "type": "completed", "ts": int(received_at.timestamp() * 1000),
            "data": {"occurrence": f"occ-{seq}"}}
    envelope = seal(topics.device(DEVICE, DeviceTopic.EVENT), body, key, Counter(0, seq), 3600,
                    issued_ms=body["ts"])
    values = {"device_id": DEVICE, "install_id": "i-1", "seq": seq, "type": "completed",
              "occurred_at": received_at, "received_at": received_at, "data": body["data"],
              "signature": json.loads(envelope)["sig"], "envelope": envelope.decode(), **row}
    with db.session() as session:
        session.execute(insert(StoredEvent), [values])


def test_receipts_of_an_earlier_key_verify_in_its_period(database: Database) -> None:
    old, new = KeyPair.generate(), KeyPair.generate()
    enrol(database, old, START)
    store(database, old, 1, START + timedelta(days=1))
    enrol(database, new, RE_ENROLLED)
    store(database, new, 2, RE_ENROLLED + timedelta(days=1))
    summary = evidence.verify_receipts(database)
    assert (summary.checked, summary.verified, summary.failed) == (2, 2, 0)


def test_an_old_key_used_after_its_period_fails(database: Database) -> None:
    old, new = KeyPair.generate(), KeyPair.generate()
    enrol(database, old, START)
    enrol(database, new, RE_ENROLLED)
    store(database, old, 1, RE_ENROLLED + timedelta(hours=1))  # a stolen old key signing later receipts
    store(database, old, 2, RE_ENROLLED + timedelta(seconds=20))  # in flight while the board enrolled
    summary = evidence.verify_receipts(database)
    assert summary.failed_by_reason == {"key_not_held_then": 1} and summary.verified == 1
    assert summary.failures[0].seq == 1


def test_a_key_the_device_never_held_fails(database: Database) -> None:
    enrol(database, KeyPair.generate(), START)
    store(database, KeyPair.generate(), 1, START + timedelta(days=1))
    assert evidence.verify_receipts(database).failed_by_reason == {"unknown_key": 1}


@pytest.mark.parametrize(("column", "value", "named"), [
    ("seq", 7, "seq"), ("type", "preempted", "type"), ("install_id", "i-2", "install_id"),
    ("occurred_at", START + timedelta(days=2), "occurred_ms"), ("data", {"occurrence": "x"}, "data"),
])
def test_a_changed_column_is_named(database: Database, column: str, value: Any, named: str) -> None:
    key = KeyPair.generate()
    enrol(database, key, START)
    store(database, key, 1, START + timedelta(days=1), **{column: value})
    summary = evidence.verify_receipts(database)
    assert summary.failed_by_reason == {"row_differs": 1}
    assert summary.failures[0].detail == f"stored {named} differ from what was signed"


def test_a_changed_envelope_fails_its_signature(database: Database) -> None:
    key = KeyPair.generate()
    enrol(database, key, START)
    at = START + timedelta(days=1)
    store(database, key, 1, at)
    with database.session() as session:
        row = session.get(StoredEvent, 1)
        assert row is not None and row.envelope is not None
        doc = json.loads(row.envelope)
        doc["body"]["data"]["occurrence"] = "never-aired"
        row.envelope = canonical_json(doc).decode()
        row.data = doc["body"]["data"]
    store(database, key, 2, at, envelope="not json")
    summary = evidence.verify_receipts(database)
    assert summary.failed_by_reason == {"bad_signature": 1, "malformed": 1}


def test_rows_without_an_envelope_are_counted_apart(database: Database) -> None:
    key = KeyPair.generate()
    enrol(database, key, START)
    store(database, key, 1, START + timedelta(days=1), envelope=None)
    summary = evidence.verify_receipts(database)
    assert (summary.checked, summary.verified, summary.failed, summary.without_evidence) == (1, 0, 0, 1)


def test_a_period_and_many_rows_are_read_in_chunks_and_failures_listed_up_to_a_bound(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evidence, "CHUNK_ROWS", 7)
    key = KeyPair.generate()
    enrol(database, key, START)
    for seq in range(1, 61):
        store(database, key, seq, START + timedelta(hours=seq), data={"occurrence": "forged"})
    summary = evidence.verify_receipts(database)
    assert summary.checked == 60 and summary.failed == 60
    assert len(summary.failures) == evidence.MAX_LISTED_FAILURES
    lines = evidence.render(summary, None, None)
    assert f"failed events (first {evidence.MAX_LISTED_FAILURES} of 60):" in lines
    period = evidence.verify_receipts(database, START + timedelta(hours=10), START + timedelta(hours=20))
    assert period.checked == 10
    assert evidence.verify_receipts(database, device_id="another-device").checked == 0


@pytest.mark.parametrize(("options", "said"), [
    (["--since", "last week"], "--since: 'last week' is not an ISO 8601 time"),
    (["--since", "2026-12-02", "--until", "2026-12-01T23:00+07:00"], "--since must come before --until"),
    ([], "cannot read the database (no such table: device_keys)"),
])
def test_the_command_says_why_it_cannot_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str], options: list[str],
                                              said: str) -> None:
    from controller.cli import main

    monkeypatch.setenv("LOALANG_ENVIRONMENT", "test")
    monkeypatch.setenv("LOALANG_DATABASE_URL", f"sqlite:///{tmp_path / 'not-migrated.sqlite3'}")
    try:
        code = main(["receipts", "verify", *options])
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert code == 2, "2: the check did not run (1 is for a failed receipt)"
    assert capsys.readouterr().err.startswith(said)


def test_the_command_exits_1_for_a_failed_receipt(database: Database, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from controller.cli import main

    key = KeyPair.generate()
    enrol(database, key, START)
    store(database, key, 1, START + timedelta(days=1))
    store(database, key, 2, START + timedelta(days=2), type="skipped")
    monkeypatch.setenv("LOALANG_ENVIRONMENT", "test")
    monkeypatch.setenv("LOALANG_DATABASE_URL", database.url)
    assert main(["receipts", "verify", "--device", DEVICE, "--since", "2026-11-01"]) == 1
    out = capsys.readouterr().out
    assert "verified: 1" in out and "row_differs: 1" in out
    assert main(["receipts", "verify", "--until", "2026-11-02T12:00"]) == 0
