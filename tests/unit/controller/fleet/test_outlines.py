"""Outlines stored per area: matched by id or by name within the importer's scope, set together or not
at all, and read back scope by scope; the command line imports a file as a whole-tree admin."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.db.models import AuditEntry
from controller.db.session import Database, migrate
from controller.fleet.areas import create_area
from controller.fleet.outline_file import OutlineError
from controller.fleet.outlines import collection, import_file

pytestmark = pytest.mark.unit

TREE = [("tinh", "Tỉnh", "province", None), ("xa-a", "Xã A", "commune", "tinh"),
        ("thon-1", "Thôn Một", "village", "xa-a"), ("xa-b", "Xã B", "commune", "tinh"),
        ("thon-2", "Thôn Một", "village", "xa-b")]
SCOPE_A = {"xa-a", "thon-1"}


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'outlines.sqlite3'}"
    migrate(url)
    db = Database(url)
    with db.session() as session:
        for area_id, name, level, parent in TREE:
            create_area(session, name, level, parent, area_id)
    yield db
    db.engine.dispose()


def geojson(**by_key: str) -> bytes:
    """One square per area, named as given (key area_id or name, e.g. area_id="xa-a")."""
    ring = [[105.0, 18.0], [105.1, 18.0], [105.1, 18.1], [105.0, 18.1], [105.0, 18.0]]
    features: list[dict[str, Any]] = [
        {"type": "Feature", "properties": {key.rstrip("_0123456789"): value},
         "geometry": {"type": "Polygon", "coordinates": [ring]}} for key, value in by_key.items()]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def stored(database: Database, scope: set[str] | None = None, within: str | None = None) -> list[str]:
    return [f["properties"]["area_id"] for f in collection(database, scope, within)["features"]]


def test_a_name_is_matched_within_the_importers_scope_only(database: Database) -> None:
    imported = import_file(database, "quantri", geojson(area_id="xa-a", name="thôn  một"), SCOPE_A)
    assert imported.area_ids == ["xa-a", "thon-1"] and imported.vertices == 10
    assert stored(database) == ["thon-1", "xa-a"]
    assert stored(database, {"xa-b", "thon-2"}) == [], "another commune's user sees none of them"
    assert stored(database, None, "thon-1") == ["thon-1"]
    with database.session() as session:
        entry = session.query(AuditEntry).filter_by(action="area.outlines").one()
        assert (entry.actor, entry.targets, entry.detail) == ("quantri", ["xa-a", "thon-1"], {"vertices": 10})


@pytest.mark.parametrize(("raw", "scope", "code"), [
    (geojson(area_id="xa-a", name="Thôn Một"), None, "outline_ambiguous_name"),
    (geojson(area_id="xa-a", area_id_2="xa-b"), SCOPE_A, "outline_unknown_area"),
    (geojson(area_id="xa-a", name="Thôn Hai"), SCOPE_A, "outline_unknown_area"),
    (geojson(area_id="xa-a", name="Xã A"), SCOPE_A, "outline_duplicate_area"),
])
def test_a_refused_file_stores_nothing(database: Database, raw: bytes, scope: set[str] | None,
                                       code: str) -> None:
    with pytest.raises(OutlineError) as refused:
        import_file(database, "quantri", raw, scope)
    assert refused.value.code == code and refused.value.field is not None
    assert stored(database) == []


def test_the_command_line_imports_a_file_and_says_why_it_refuses_one(
        database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from controller.cli import main

    monkeypatch.setenv("LOALANG_ENVIRONMENT", "test")
    monkeypatch.setenv("LOALANG_DATABASE_URL", database.url)
    good, bad = tmp_path / "good.geojson", tmp_path / "bad.geojson"
    good.write_bytes(geojson(area_id="thon-2", name="Xã B"))
    bad.write_bytes(geojson(name="Thôn Một"))
    assert main(["outlines", "import", str(good)]) == 0
    assert "outlines set for 2 areas (10 positions): thon-2, xa-b" in capsys.readouterr().out
    assert main(["outlines", "import", str(bad)]) == 1
    assert "refused (outline_ambiguous_name) at features[0].properties.name" in capsys.readouterr().err
    assert main(["outlines", "import", str(tmp_path / "missing.geojson")]) == 2
    assert stored(database) == ["thon-2", "xa-b"]
