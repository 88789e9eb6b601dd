"""The library's items are deleted with their file by the editors of their area, unless a bulletin,
a broadcast or a coming play still uses them."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from loalang_stack.services import ControllerProcess
from tests.testkit import (
    Fleet,
    audit_entries,
    schedule,
    upload_media,
    user_client,
    wait_job,
    write_steps_wav,
)

pytestmark = pytest.mark.e2e

API = "/api/v1"


def item_of(fleet: Fleet, tmp_path: Path, frequency: float) -> tuple[str, int]:
    """A new library item of the test's own (a tone no other test uploads); its hash and size."""
    name = f"xoa-{secrets.token_hex(3)}.wav"
    return upload_media(fleet, write_steps_wav(tmp_path / name, [frequency, frequency + 7.0]))


def library(fleet: Fleet) -> set[str]:
    return {m["sha256"] for m in fleet.http.get(f"{API}/media").json()}


def test_an_unused_item_is_deleted_with_its_file_and_audited(fleet: Fleet, controller: ControllerProcess,
                                                             tmp_path: Path) -> None:
    sha, _ = item_of(fleet, tmp_path, 811.0)
    stored = controller.data_dir / "media" / sha
    assert stored.is_file() and sha in library(fleet)
    answer = fleet.http.delete(f"{API}/media/{sha}")
    assert answer.status_code == 204, answer.text
    assert sha not in library(fleet)
    assert not stored.exists(), "the file is gone from the store too"
    assert fleet.http.get(f"{API}/media/{sha}/preview").status_code == 404
    assert fleet.http.delete(f"{API}/media/{sha}").status_code == 404
    [entry] = [e for e in audit_entries(fleet, "media.delete", "admin") if e["targets"] == [sha]]
    assert entry["detail"]["title"].startswith("xoa-"), entry


def test_an_item_a_bulletin_or_a_coming_play_uses_is_kept(fleet: Fleet, controller: ControllerProcess,
                                                           tmp_path: Path) -> None:
    named, _ = item_of(fleet, tmp_path, 823.0)
    bulletin = fleet.http.post(f"{API}/bulletins", json={"title": "Bản tin giữ tệp", "media_sha256": named,
                                                         "area_id": "xa-mot"})
    assert bulletin.status_code == 201, bulletin.text
    refused = fleet.http.delete(f"{API}/media/{named}")
    assert refused.status_code == 409 and refused.json()["code"] == "media_in_use", refused.text
    assert bulletin.json()["id"] in refused.json()["detail"], "the refusal names what uses it"

    played, size = item_of(fleet, tmp_path, 829.0)
    in_half_an_hour = int(time.time() * 1000) + 1_800_000
    occurrence = schedule(fleet, area_id="thon-a", level="normal", start_ms=in_half_an_hour, duration_ms=2000,
                          source={"type": "media", "sha256": played, "size": size})
    refused = fleet.http.delete(f"{API}/media/{played}")
    assert refused.status_code == 409 and refused.json()["code"] == "media_in_use", refused.text
    assert (controller.data_dir / "media" / played).is_file() and {named, played} <= library(fleet)
    assert fleet.http.delete(f"{API}/occurrences/{occurrence}").status_code in (200, 204)
    assert fleet.http.delete(f"{API}/media/{played}").status_code == 204, "free once the play is withdrawn"


def test_only_editors_of_the_items_area_delete_it(fleet: Fleet, tmp_path: Path) -> None:
    commune_operator, _ = user_client(fleet, "operator", "xa-mot")
    with write_steps_wav(tmp_path / "xa.wav", [839.0]).open("rb") as source:
        started = commune_operator.post(f"{API}/media", files={"file": ("xa.wav", source, "audio/wav")})
    sha = wait_job(fleet, started.json()["job_id"])["sha256"]
    shared, _ = item_of(fleet, tmp_path, 853.0)  # the admin's, for the whole tree

    other_commune, _ = user_client(fleet, "operator", "xa-hai")
    village_operator, _ = user_client(fleet, "operator", "thon-a")
    approver, _ = user_client(fleet, "approver", "xa-mot")
    assert other_commune.delete(f"{API}/media/{sha}").status_code == 403, "another commune's file"
    below = village_operator.delete(f"{API}/media/{sha}")
    assert below.status_code == 403 and below.json()["code"] == "outside_scope", "usable below, not theirs"
    assert approver.delete(f"{API}/media/{sha}").status_code == 403, "an approver does not manage media"
    assert commune_operator.delete(f"{API}/media/{shared}").status_code == 403, "a shared file"
    assert sha in library(fleet) and shared in library(fleet)
    assert commune_operator.delete(f"{API}/media/{sha}").status_code == 204
    assert fleet.http.delete(f"{API}/media/{shared}").status_code == 204
