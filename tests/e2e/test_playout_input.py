"""Bad occurrences are refused one by one with a receipt; bad downloads are refused and retried."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.testkit import (
    Fleet,
    Stack,
    dominant_frequencies,
    publish_as_controller,
    receipts,
    schedule,
    tone_onset,
    upload_media,
    wait_for,
    write_steps_wav,
)

pytestmark = pytest.mark.e2e


def _agent(fleet: Fleet, **settings: object) -> tuple[str, Path]:
    device_id, config = fleet.enrolled_agent(area="thon-b")
    if settings:
        loaded = config_file.load(config)
        config_file.save(loaded.model_copy(update=settings), config)
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 5.0, what="online")
    return device_id, config


def test_each_bad_occurrence_is_rejected_and_the_rest_plays(stack: Stack, fleet: Fleet,
                                                            controller: ControllerProcess) -> None:
    device_id, config = _agent(fleet)
    now = int(time.time() * 1000)
    good = {"id": "o-good", "level": "normal", "start_ms": now + 4000, "duration_ms": 1000,
            "source": {"type": "tone", "frequency_hz": 440}}
    missing = {**good, "id": "o-missing-file", "start_ms": now + 2000, "max_lateness_ms": 1000,
               "source": {"type": "media", "sha256": "ab" * 32, "size": 1000}}
    bad = [
        {**good, "id": "o-unknown-source", "source": {"type": "teleport"}},
        {**good, "id": "o-negative", "duration_ms": -5},
        {**good, "id": "o-far-past", "start_ms": now - 30 * 86_400_000},
        {**good, "id": "o-far-future", "start_ms": now + 365 * 86_400_000},
        {**good, "id": "o-bad-level", "level": "loudest"},
        {"id": "o-not-even-close"},
    ]
    version = fleet.device(device_id)["desired_version"] + 1
    publish_as_controller(stack, controller, f"loa/v1/dev/{device_id}/desired", {
        "scope": "device", "target": device_id, "version": version, "settings": {"volume": 70},
        "areas": ["tinh-thu", "xa-mot", "thon-b"], "occurrences": [good, missing, *bad],
    })
    wait_for(lambda: any(r["data"]["occurrence"] == "o-good"
                         for r in receipts(fleet, device_id, "completed")), 15.0, what="the good item played")
    rejected = {r["data"]["occurrence"]: r["data"]["reason"] for r in receipts(fleet, device_id, "rejected")}
    assert set(rejected) == {b["id"] for b in bad}, rejected
    assert "past" in rejected["o-far-past"] and "future" in rejected["o-far-future"]
    missed = {r["data"]["occurrence"]: r["data"]["reason"] for r in receipts(fleet, device_id, "missed")}
    assert missed.get("o-missing-file") == "media_missing"
    failed_downloads = receipts(fleet, device_id, "download-failed")
    assert any(r["data"]["reason"] == "http_404" for r in failed_downloads)
    assert tone_onset(config_file.load(config).data_dir / "card", 440) is not None


def test_a_file_with_the_wrong_hash_is_refused_and_fetched_again(fleet: Fleet, controller: ControllerProcess,
                                                                 tmp_path: Path) -> None:
    sha, size = upload_media(fleet, write_steps_wav(tmp_path / "a.wav", [500.0]))
    stored = controller.data_dir / "media" / sha
    original = stored.read_bytes()
    stored.write_bytes(os.urandom(len(original)))  # the controller's copy is damaged
    device_id, config = _agent(fleet)
    occurrence = schedule(fleet, area_id="thon-b", level="normal", start_ms=int(time.time() * 1000) + 60_000,
                          duration_ms=1000, source={"type": "media", "sha256": sha, "size": size})
    wait_for(lambda: any(r["data"]["reason"] == "hash_mismatch" for r in receipts(fleet, device_id,
                                                                                  "download-failed")),
             10.0, what="hash mismatch reported")
    cache = config_file.load(config).data_dir / "cache"
    assert not (cache / sha).exists(), "a file that does not match its hash is not kept"
    stored.write_bytes(original)
    wait_for(lambda: any(r["data"]["sha256"] == sha for r in receipts(fleet, device_id, "downloaded")), 20.0,
             what="fetched again after the backoff")
    assert (cache / sha).exists()
    assert occurrence


def test_the_cache_stays_within_its_quota(fleet: Fleet, tmp_path: Path) -> None:
    files = [upload_media(fleet, write_steps_wav(tmp_path / f"f{index}.wav", [300.0 + 50 * index] * 20))
             for index in range(5)]
    sizes = [size for _, size in files]
    quota_bytes = sum(sizes[:3]) + min(sizes[3:]) // 2  # room for three of them, not four
    device_id, config = _agent(fleet, cache_quota_mb=quota_bytes / 1_000_000)
    start = int(time.time() * 1000) + 3_600_000
    for index, (sha, size) in enumerate(files):
        schedule(fleet, area_id="thon-b", level="normal", start_ms=start + index * 60_000, duration_ms=1000,
                 source={"type": "media", "sha256": sha, "size": size})
    cache = config_file.load(config).data_dir / "cache"
    wait_for(lambda: len(list(cache.iterdir())) >= 3, 15.0, what="three files fetched")
    wait_for(lambda: any(r["data"]["reason"] == "quota"
                         for r in receipts(fleet, device_id, "download-failed")),
             15.0, what="the files that do not fit are reported")
    used = sum(p.stat().st_size for p in cache.iterdir())
    assert used <= quota_bytes, used
    kept = {p.name for p in cache.iterdir()}
    assert kept == {sha for sha, _ in files[:3]}, "the soonest needed are kept"


def test_an_interrupted_download_resumes_where_it_stopped(fleet: Fleet, controller: ControllerProcess,
                                                          tmp_path: Path) -> None:
    sha, size = upload_media(fleet, write_steps_wav(tmp_path / "long.wav", [300.0] * 20))
    original = (controller.data_dir / "media" / sha).read_bytes()
    device_id, config = fleet.enrolled_agent(area="thon-b")
    cache = config_file.load(config).data_dir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / f"{sha}.part").write_bytes(original[: size // 2])  # what a cut connection left behind
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 5.0, what="online")
    schedule(fleet, area_id="thon-b", level="normal", start_ms=int(time.time() * 1000) + 120_000,
             duration_ms=20_000, source={"type": "media", "sha256": sha, "size": size})
    wait_for(lambda: any(r["data"]["sha256"] == sha for r in receipts(fleet, device_id, "downloaded")), 15.0,
             what="download finished")
    assert (cache / sha).read_bytes() == original
    access_log = (controller.data_dir / "controller.log").read_text()
    assert f'"GET /media/{sha} HTTP/1.1" 206' in access_log, "the rest was fetched with a Range request"


def test_a_part_left_whole_by_a_power_cut_before_its_rename_is_used(
        fleet: Fleet, controller: ControllerProcess, tmp_path: Path) -> None:
    """The power went after the last byte and before the rename: the part is whole. Asking for the
    bytes after its end is answered 416 on every attempt, and the bulletin would never play."""
    sha, size = upload_media(fleet, write_steps_wav(tmp_path / "whole.wav", [350.0] * 5))
    original = (controller.data_dir / "media" / sha).read_bytes()
    device_id, config = fleet.enrolled_agent(area="thon-b")
    cache = config_file.load(config).data_dir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / f"{sha}.part").write_bytes(original)
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 5.0, what="online")
    schedule(fleet, area_id="thon-b", level="normal", start_ms=int(time.time() * 1000) + 120_000,
             duration_ms=5_000, source={"type": "media", "sha256": sha, "size": size})
    wait_for(lambda: (cache / sha).is_file(), 15.0, what="the part checked and kept")
    assert (cache / sha).read_bytes() == original
    assert not (cache / f"{sha}.part").exists()
    access_log = (controller.data_dir / "controller.log").read_text()
    assert f'"GET /media/{sha} HTTP/1.1" 416' not in access_log


def test_an_emergency_whose_file_is_missing_sounds_the_attention_signal_then_its_file(
        fleet: Fleet, controller: ControllerProcess, tmp_path: Path) -> None:
    sha, size = upload_media(fleet, write_steps_wav(tmp_path / "warning.wav", [1000.0] * 3))
    stored = controller.data_dir / "media" / sha
    kept = tmp_path / "kept"
    stored.rename(kept)  # the controller cannot serve it yet
    device_id, config = _agent(fleet)
    card = config_file.load(config).data_dir / "card"
    start_ms = int(time.time() * 1000) + 3000
    occurrence = schedule(fleet, device_id=device_id, level="emergency", start_ms=start_ms, duration_ms=3000,
                          max_lateness_ms=120_000, source={"type": "media", "sha256": sha, "size": size})
    def has(kind: str) -> bool:
        return any(r["data"]["occurrence"] == occurrence for r in receipts(fleet, device_id, kind))

    wait_for(lambda: has("started"), 10.0, what="the emergency started")
    started = [r["data"] for r in receipts(fleet, device_id, "started")]
    assert started[0]["audio"] == "attention_signal"
    assert abs(started[0]["at_ms"] - start_ms) < 250, "the attention signal sounds at once"
    def chimed() -> set[int] | None:
        frequencies = {round(f) for _, f in dominant_frequencies(card)}
        return frequencies if {660, 880} <= frequencies else None

    chime = wait_for(chimed, 10.0, what="the attention signal's 660 and 880 Hz")
    assert not any(abs(f - 1000) < 20 for f in chime), "the file cannot have played yet"

    kept.rename(stored)  # now it can be fetched
    wait_for(lambda: has("completed"), 60.0, what="the emergency's own file played once it arrived")
    started = [r["data"] for r in receipts(fleet, device_id, "started")]
    assert [s["audio"] for s in started] == ["attention_signal", "media"]
    assert not receipts(fleet, device_id, "missed")
    warning = [t for t, f in dominant_frequencies(card) if abs(f - 1000) < 20]
    assert len(warning) >= 25, "about three seconds of the 1 kHz warning were heard"
    assert warning[0] >= started[1]["at_ms"] / 1000 - 0.05
