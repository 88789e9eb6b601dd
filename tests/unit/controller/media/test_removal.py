"""What keeps a library item from being deleted, over a real (migrated SQLite) database: a bulletin
that names it, a broadcast waiting or on the air, an occurrence that has not ended; a finished
broadcast does not, and keeps its record without the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from controller.db.models import Area, AuditEntry, Broadcast, Bulletin, MediaItem, Occurrence
from controller.db.session import Database, migrate
from controller.errors import DomainError
from controller.media import removal
from controller.media.store import MediaStore

pytestmark = pytest.mark.unit

NOW_MS = 1_800_000_000_000


def sha(letter: str) -> str:
    return letter * 64


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Any]:
    url = f"sqlite:///{tmp_path / 'media.sqlite3'}"
    migrate(url)
    db = Database(url)
    store = MediaStore(tmp_path / "media", "ctl-1")
    with db.session() as session:
        session.add(Area(id="xa", name="Xã", parent_id=None, level="commune"))
        session.flush()
        for letter in "abcde":
            (store.folder / sha(letter)).write_bytes(b"OggS")
            session.add(MediaItem(sha256=sha(letter), title=f"tệp {letter}", kind="upload", duration_ms=1000,
                                  size=4, area_id="xa", created_by="u"))
    yield SimpleNamespace(db=db, media=store)
    db.engine.dispose()


def broadcast(letter: str, status: str) -> Broadcast:
    return Broadcast(id=f"bc-{letter}-{status}", title="Phát", level="normal", media_sha256=sha(letter),
                     status=status, duration_ms=1000, max_lateness_ms=0, created_by="u")


def occurrence(letter: str, start_ms: int) -> Occurrence:
    return Occurrence(id=f"o-{letter}-{start_ms}", area_id="xa", level="normal", start_ms=start_ms,
                      duration_ms=10_000, max_lateness_ms=60_000, issued_ms=start_ms, created_by="u",
                      source={"type": "media", "sha256": sha(letter), "size": 4})


def test_each_use_is_named_and_what_is_over_is_not(services: Any) -> None:
    with services.db.session() as session:
        session.add(Bulletin(id="b-1", title="Tin", level="normal", media_sha256=sha("a"), area_id="xa",
                             status="rejected", created_by="u"))
        session.add_all([broadcast("b", "on_air"), broadcast("c", "done"), broadcast("c", "stopped")])
        session.add_all([occurrence("d", NOW_MS + 3_600_000), occurrence("e", NOW_MS - 3_600_000)])
    with services.db.session() as session:
        assert removal.uses(session, sha("a"), NOW_MS) == ["b-1"]
        assert removal.uses(session, sha("b"), NOW_MS) == ["bc-b-on_air"]
        assert removal.uses(session, sha("c"), NOW_MS) == []
        assert removal.uses(session, sha("d"), NOW_MS) == [f"o-d-{NOW_MS + 3_600_000}"]
        assert removal.uses(session, sha("e"), NOW_MS) == [], "a play that ended an hour ago"


def test_an_item_in_use_stays_and_a_free_one_goes_with_its_file(services: Any) -> None:
    with services.db.session() as session:
        session.add(Bulletin(id="b-1", title="Tin", level="normal", media_sha256=sha("a"), area_id="xa",
                             status="draft", created_by="u"))
        session.add(broadcast("c", "done"))
    with pytest.raises(DomainError) as refused:
        removal.remove(services, "u", sha("a"))
    assert refused.value.code == "media_in_use" and "b-1" in refused.value.message
    assert services.media.path(sha("a")) is not None

    removal.remove(services, "u", sha("c"))
    assert services.media.path(sha("c")) is None
    with services.db.session() as session:
        assert session.get(MediaItem, sha("c")) is None
        finished = session.get(Broadcast, "bc-c-done")
        assert finished is not None and finished.media_sha256 is None and finished.title == "Phát"
        [entry] = [e for e in session.query(AuditEntry).all() if e.action == "media.delete"]
        assert entry.targets == [sha("c")] and entry.detail["title"] == "tệp c"
    with pytest.raises(DomainError) as gone:
        removal.remove(services, "u", sha("c"))
    assert gone.value.code == "unknown_media"
