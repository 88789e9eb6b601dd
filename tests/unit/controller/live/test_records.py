"""A live broadcast's record, over a real (migrated SQLite) database and media folder: kept in the
library and linked from its broadcast, nothing kept for a session that sent no audio, and deleted
once older than the setting's days unless a bulletin was made of it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from controller.db.models import Area, Broadcast, Bulletin, MediaItem, utcnow
from controller.db.session import Database, migrate
from controller.live import records
from controller.media.store import MediaStore
from loalang_protocol.chunks import AudioChunk

pytestmark = pytest.mark.unit


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Any]:
    url = f"sqlite:///{tmp_path / 'records.sqlite3'}"
    migrate(url)
    db = Database(url)
    with db.session() as session:
        session.add(Area(id="xa", name="Xã", parent_id=None, level="commune"))
        session.flush()
        session.add(Broadcast(id="bc-1", title="Họp dân", level="live", status="on_air", duration_ms=0,
                              max_lateness_ms=0, created_by="u", live_kind="microphone", area_ids=["xa"]))
    yield SimpleNamespace(db=db, media=MediaStore(tmp_path / "media", "ctl-1"),
                          settings=SimpleNamespace(live_recording_keep_days=90))
    db.engine.dispose()


def chunk(seq: int) -> AudioChunk:
    return AudioChunk(seq=seq, pts_us=seq * 200_000, duration_us=200_000, frames=(b"\xf8\xff\xfe",) * 10)


def test_a_record_is_stored_in_the_library_and_named_by_its_broadcast(services: Any) -> None:
    record = records.LiveRecord(services, "bc-1", "Họp dân")
    for seq in range(5):
        record.add(chunk(seq))
    sha = record.keep()
    assert sha is not None and not record.path.exists(), "the temporary file is gone"
    with services.db.session() as session:
        item = session.get(MediaItem, sha)
        assert item is not None
        assert (item.kind, item.title, item.area_id) == ("recording", "Ghi âm: Họp dân", "xa")
        assert item.duration_ms == 1000, "fifty 20 ms packets"
        assert session.get(Broadcast, "bc-1").recording_sha256 == sha  # type: ignore[union-attr]
    stored = services.media.path(sha).read_bytes()
    assert stored.startswith(b"OggS") and b"OpusHead" in stored
    assert "TITLE=Họp dân".encode() in stored


def test_a_session_that_sent_nothing_keeps_nothing(services: Any) -> None:
    record = records.LiveRecord(services, "bc-1", "Họp dân")
    assert record.keep() is None and not record.path.exists()
    with services.db.session() as session:
        assert session.get(Broadcast, "bc-1").recording_sha256 is None  # type: ignore[union-attr]


def test_old_recordings_go_unless_a_bulletin_was_made_of_one(services: Any) -> None:
    made = []
    for n in range(3):
        record = records.LiveRecord(services, "bc-1", f"Họp dân {n}")
        for seq in range(n + 1):
            record.add(chunk(seq))
        made.append(record.keep())
    old, kept_by_bulletin, fresh = made
    with services.db.session() as session:
        for sha in (old, kept_by_bulletin):
            session.get(MediaItem, sha).created_at = utcnow() - timedelta(days=91)  # type: ignore[union-attr]
        session.add(Bulletin(id="b-1", title="Phát lại", level="normal", media_sha256=kept_by_bulletin,
                             area_id="xa", status="approved", created_by="u"))
    assert records.expire(services) == [old]
    with services.db.session() as session:
        assert session.get(MediaItem, old) is None and services.media.path(old) is None
        assert session.get(MediaItem, kept_by_bulletin) is not None
        assert session.get(MediaItem, fresh) is not None
        assert session.get(Broadcast, "bc-1").recording_sha256 == fresh  # type: ignore[union-attr]
