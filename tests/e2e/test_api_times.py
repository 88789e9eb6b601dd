"""Every time the API answers carries its offset, on SQLite and on PostgreSQL alike.

A time without an offset is read by a browser as its own local time: in Vietnam, seven hours off
beside the times that carry one. The test makes one of each kind of thing that has a time (a device
and its events, a library file, a bulletin, a broadcast, a user, an API client, audit entries), then
reads every listing and checks each ISO time in the answers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.testkit import Fleet, receipts, upload_media, wait_for, write_steps_wav

pytestmark = pytest.mark.e2e

API = "/api/v1"
ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(?P<offset>Z|[+-]\d\d:?\d\d)?$")


def times_in(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Every (where, text) of an ISO time in a JSON answer."""
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in times_in(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in times_in(item, f"{path}[{index}]")]
    if isinstance(value, str) and ISO_TIME.match(value):
        return [(path, value)]
    return []


def test_every_time_the_api_answers_carries_its_offset(fleet: Fleet, tmp_path: Path) -> None:
    device_id, config = fleet.enrolled_agent(area="thon-a")
    fleet.start(config)
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "gio.wav", [700.0], step_s=0.5))
    played = fleet.http.post(f"{API}/broadcasts", json={"level": "normal", "media_sha256": sha,
                                                        "device_ids": [device_id], "title": "Giờ"})
    assert played.status_code == 201, played.text
    wait_for(lambda: receipts(fleet, device_id, "completed"), 30.0, what="the broadcast played")
    fleet.http.post(f"{API}/bulletins", json={"title": "Bản tin giờ", "level": "normal",
                                              "area_id": "thon-a", "media_sha256": sha}).raise_for_status()
    fleet.http.post(f"{API}/api-clients", json={"id": f"gio-{device_id}", "name": "Trung tâm giờ",
                                                "role": "viewer", "area_id": "thon-a"}).raise_for_status()

    listings = [f"{API}/devices/{device_id}", f"{API}/devices/{device_id}/events", f"{API}/media",
                f"{API}/bulletins", f"{API}/broadcasts", f"{API}/broadcasts/{played.json()['id']}",
                f"{API}/users", f"{API}/api-clients", f"{API}/audit", f"{API}/fleet/overview",
                f"{API}/devices/{device_id}/presence", f"{API}/system/keys"]
    found: list[tuple[str, str]] = []
    for url in listings:
        answer = fleet.http.get(url)
        assert answer.status_code == 200, f"{url}: {answer.status_code} {answer.text[:200]}"
        # an audit entry's detail keeps the request's fields as given (a schedule's local start time
        # beside its time zone, say); the entry's own time is what this is about
        found += [(f"{url}{where}", text) for where, text in times_in(answer.json())
                  if ".detail." not in where]
    naive = [(where, text) for where, text in found if not ISO_TIME.match(text)["offset"]]  # type: ignore[index]
    assert len(found) > 20, f"only {len(found)} times found: the listings have changed"
    assert naive == [], f"times without their offset: {naive[:10]}"


@pytest.mark.parametrize("text, offset", [("2026-12-06T12:00:00", None), ("2026-12-06T12:00:00Z", "Z"),
                                           ("2026-12-06T12:00:00.123456+07:00", "+07:00")])
def test_the_time_pattern_tells_an_offset_from_none(text: str, offset: str | None) -> None:
    match = ISO_TIME.match(text)
    assert match is not None and match["offset"] == offset
