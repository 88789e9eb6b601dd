"""Text to be spoken is refused over its limit, never cut; a spoken preview is heard by its maker
only and leaves the library as it was."""

from __future__ import annotations

from typing import Any

import pytest

from loalang_stack.services import ControllerProcess
from tests.testkit import Fleet, user_client, wait_job

pytestmark = pytest.mark.e2e

API = "/api/v1"
TOO_LONG = "Thông báo khẩn của xã.\n\n " * 230  # 5,289 characters once the spaces are folded


def stored(controller: ControllerProcess) -> set[str]:
    """The names in the media folder, but for the folder of spoken previews."""
    return {path.name for path in (controller.data_dir / "media").iterdir()} - {"previews"}


def library(fleet: Fleet) -> set[str]:
    return {m["sha256"] for m in fleet.http.get(f"{API}/media").json()}


@pytest.mark.parametrize("path, extra", [
    ("/media/speech", {"title": "Quá dài"}),
    ("/speech-previews", {}),
    ("/bulletins", {"title": "Quá dài", "area_id": "xa-mot"}),
    ("/broadcasts", {"level": "normal", "area_ids": ["thon-a"]}),
])
def test_text_over_the_limit_is_refused_not_cut(fleet: Fleet, path: str, extra: dict[str, Any]) -> None:
    before = library(fleet)
    answer = fleet.http.post(f"{API}{path}", json={"text": TOO_LONG, **extra})
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert (body["code"], body["field"]) == ("text_too_long", "text"), body
    assert "5289" in body["detail"] and "5000" in body["detail"], body["detail"]
    assert library(fleet) == before


def test_a_spoken_preview_is_heard_by_its_maker_only_and_keeps_nothing(
        fleet: Fleet, controller: ControllerProcess) -> None:
    operator, _ = user_client(fleet, "operator", "xa-mot")
    before = library(fleet)
    stored_before = stored(controller)
    started = operator.post(f"{API}/speech-previews", json={"text": "Chiều nay họp thôn lúc 14 giờ."})
    assert started.status_code == 202, started.text
    result = wait_job(fleet, started.json()["job_id"])
    assert 1000 < result["duration_ms"] < 10_000 and result["expires_at"].endswith("+00:00"), result
    heard = operator.get(result["preview_url"])
    assert heard.status_code == 200 and heard.headers["content-type"] == "audio/ogg"
    assert heard.content[:4] == b"OggS" and len(heard.content) > 2000
    other, _ = user_client(fleet, "operator", "xa-mot")
    refused = other.get(result["preview_url"])
    assert refused.status_code == 404 and refused.json()["code"] == "preview_expired"
    assert library(fleet) == before, "no item of the library was made"
    assert stored(controller) == stored_before, "nothing stored beside it"
