"""The media library: uploads and spoken text become normalised Opus, refused uploads say why."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from loalang_stack.services import ControllerProcess
from tests.testkit import Fleet, wait_for, wait_job, write_steps_wav

pytestmark = pytest.mark.e2e

API = "/api/v1"


def make_audio(path: Path, source: str, *codec: str) -> Path:
    """An audio file made by ffmpeg from a lavfi source."""
    args = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, *codec, str(path)]
    subprocess.run(args, check=True)
    return path


def stream_of(path: Path) -> dict[str, Any]:
    args = ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)]
    found = json.loads(subprocess.run(args, capture_output=True, check=True).stdout)
    return {**found["streams"][0], "format": found["format"]["format_name"]}


def loudness_lufs(path: Path) -> float:
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-i", str(path), "-af", "ebur128", "-f", "null", "-"]
    out = subprocess.run(args, capture_output=True, text=True).stderr
    summary = out[out.rindex("Integrated loudness:"):]
    return float(summary.split("I:")[1].split("LUFS")[0])


def pcm_of(path: Path) -> np.ndarray:
    args = ["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", "48000", "-"]
    raw = subprocess.run(args, capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<i2").astype(float)


def upload(http: httpx.Client, path: Path, **form: str) -> httpx.Response:
    with path.open("rb") as source:
        return http.post(f"{API}/media", files={"file": (path.name, source, "application/octet-stream")},
                         data=form)


def test_an_mp3_and_a_wav_become_normalised_opus(fleet: Fleet, controller: ControllerProcess,
                                                 tmp_path: Path) -> None:
    quiet_mp3 = make_audio(tmp_path / "quiet.mp3", "sine=f=440:d=6", "-af", "volume=0.05",
                           "-c:a", "libmp3lame")
    loud_wav = write_steps_wav(tmp_path / "loud.wav", [300.0, 500.0, 700.0], amplitude=0.9)
    items = []
    for path, title in ((quiet_mp3, "Bản tin nhỏ"), (loud_wav, "Bản tin to")):
        started = upload(fleet.http, path, title=title)
        assert started.status_code == 202, started.text
        items.append(wait_job(fleet, started.json()["job_id"]))
    for item, expected_s in zip(items, (6.0, 3.0), strict=True):
        stored = controller.data_dir / "media" / item["sha256"]
        found = stream_of(stored)
        assert (found["codec_name"], found["channels"], found["sample_rate"], found["format"]) == (
            "opus", 1, "48000", "ogg")
        assert abs(item["duration_ms"] / 1000 - expected_s) < 0.1
        assert abs(loudness_lufs(stored) - -16.0) < 1.0, "every item plays equally loud"
        preview = fleet.http.get(item["preview_url"])
        assert preview.status_code == 200 and preview.headers["content-type"] == "audio/ogg"
        assert preview.content == stored.read_bytes()
    assert items[0]["loudness_lufs"] < items[1]["loudness_lufs"] - 10, "the originals' loudness is kept"
    spectrum = np.abs(np.fft.rfft(pcm_of(controller.data_dir / "media" / items[0]["sha256"])[48000:96000]))
    assert abs(np.argmax(spectrum) - 440) < 3, "the tone is still 440 Hz"
    listed = {m["sha256"]: m for m in fleet.http.get(f"{API}/media").json()}
    assert listed[items[0]["sha256"]]["title"] == "Bản tin nhỏ"


def test_vietnamese_text_is_spoken_into_the_library(fleet: Fleet, controller: ControllerProcess) -> None:
    text = "Thông báo của Ủy ban nhân dân xã: chiều nay lúc 14 giờ, họp thôn tại nhà văn hóa."
    started = fleet.http.post(f"{API}/media/speech", json={"text": text, "title": "Họp thôn"})
    assert started.status_code == 202, started.text
    item = wait_job(fleet, started.json()["job_id"])
    assert item["kind"] == "speech" and item["text"] == text
    assert 3000 < item["duration_ms"] < 20000
    pcm = pcm_of(controller.data_dir / "media" / item["sha256"])
    windows = pcm[: len(pcm) // 4800 * 4800].reshape(-1, 4800)
    loud = np.sqrt((windows ** 2).mean(axis=1)) > 500
    assert 0.3 < loud.mean() < 0.98, "speech: sound with pauses, not silence and not a constant tone"


@pytest.mark.parametrize("name, make, reason", [
    ("empty.mp3", lambda p: p.write_bytes(b""), "the file is empty"),
    ("notes.mp3", lambda p: p.write_text("Đây là một tệp văn bản, không phải âm thanh.\n" * 50),
     "not an audio file"),
    ("picture.wav", lambda p: make_audio(p.with_suffix(".png"), "color=c=red:s=32x32:d=1", "-frames:v", "1")
     .rename(p), "not an audio file"),
    ("video.mp4", lambda p: make_audio(p, "color=c=red:s=32x32:d=1", "-c:v", "mpeg4"), "no audio"),
    ("silence.wav", lambda p: make_audio(p, "anullsrc=r=48000:cl=mono:d=3"), None),
    ("too-long.mp3", lambda p: make_audio(p, "sine=f=300:d=660", "-c:a", "libmp3lame", "-b:a", "8k"),
     "the limit is 10 minutes"),
])
def test_refused_uploads_say_why(fleet: Fleet, tmp_path: Path, name: str, make: Any,
                                 reason: str | None) -> None:
    path = tmp_path / name
    make(path)
    before = len(fleet.http.get(f"{API}/media").json())
    response = upload(fleet.http, path)
    if reason is None:  # decodes cleanly, so the job finds out
        job = response.json()["job_id"]
        done = wait_for(lambda: fleet.http.get(f"{API}/jobs/{job}").json()["state"] in ("done", "failed") and
                        fleet.http.get(f"{API}/jobs/{job}").json(), 30.0, what="the job")
        assert done["state"] == "failed" and done["error"] == "the audio is silent"
    else:
        assert response.status_code == 422, response.text
        assert reason in response.json()["detail"]
    assert len(fleet.http.get(f"{API}/media").json()) == before
    assert not list((fleet.controller.data_dir / "media").glob(".incoming-*")), "nothing left behind"


@pytest.mark.parametrize("name, codec", [
    ("tone.wav", ()), ("tone.mp3", ("-c:a", "libmp3lame")), ("tone.ogg", ("-c:a", "libopus")),
    ("tone.oga", ("-c:a", "libvorbis", "-f", "ogg")), ("tone.flac", ()), ("tone.m4a", ("-c:a", "aac")),
    ("tone.aac", ("-c:a", "aac")), ("recording.webm", ("-c:a", "libopus")),
    ("tone.mka", ("-c:a", "flac")), ("tone.aiff", ()),
])
def test_each_accepted_audio_container_is_stored(fleet: Fleet, tmp_path: Path, name: str,
                                                 codec: tuple[str, ...]) -> None:
    path = make_audio(tmp_path / name, "sine=f=440:d=4", *codec)
    started = upload(fleet.http, path, title=name)
    assert started.status_code == 202, started.text
    assert abs(wait_job(fleet, started.json()["job_id"])["duration_ms"] - 4000) < 100


def test_uploads_that_would_read_other_files_are_refused(fleet: Fleet, controller: ControllerProcess,
                                                         tmp_path: Path) -> None:
    started = upload(fleet.http, write_steps_wav(tmp_path / "stored.wav", [523.0, 659.0]))
    stored = wait_job(fleet, started.json()["job_id"])["sha256"]
    media = controller.data_dir / "media"
    local = make_audio(tmp_path / "local.mp3", "sine=f=880:d=3", "-c:a", "libmp3lame")
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:5\n#EXTINF:3,\n{local}\n#EXT-X-ENDLIST\n"
    hostile = {
        "sibling.ffconcat": f"ffconcat version 1.0\nfile '{stored}'\nduration 2\n",  # beside the upload
        "absolute.ffconcat": f"ffconcat version 1.0\nfile '{media / stored}'\n",
        "playlist.m3u8": playlist,
        "notes.txt": "Thông báo họp thôn lúc 14 giờ.\n" * 40,
    }
    before = {m["sha256"] for m in fleet.http.get(f"{API}/media").json()}
    for name, text in hostile.items():
        (tmp_path / name).write_text(text)
        response = upload(fleet.http, tmp_path / name)
        assert response.status_code == 422, (name, response.text)
        assert response.json()["code"] == "audio_format_not_accepted", (name, response.text)
        assert "not an audio file" in response.json()["detail"]
    assert {m["sha256"] for m in fleet.http.get(f"{API}/media").json()} == before, "nothing stored"
    assert not list(media.glob(".incoming-*")), "nothing left behind"


def test_a_truncated_mp3_is_refused(fleet: Fleet, tmp_path: Path) -> None:
    whole = make_audio(tmp_path / "whole.mp3", "sine=f=440:d=10", "-c:a", "libmp3lame", "-b:a", "64k")
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    response = upload(fleet.http, cut)
    assert response.status_code == 422
    assert "cut short" in response.json()["detail"]


def test_an_upload_over_the_limit_is_refused_before_it_is_stored(fleet: Fleet, tmp_path: Path) -> None:
    big = tmp_path / "big.wav"
    big.write_bytes(b"RIFF" + bytes(6_000_000))
    response = upload(fleet.http, big)
    assert response.status_code == 413
    assert "5 MB" in response.json()["detail"]


@pytest.mark.parametrize("body, status", [
    ({"text": "", "title": "x"}, 422),
    ({"text": "\x00\x01\x02", "title": "x"}, 422),
    ({"text": "a" * 5001, "title": "x"}, 422),
    ({"text": "xin chào", "title": ""}, 422),
    ({"text": "xin chào"}, 422),
    ({"text": "xin chào", "title": "x", "voice": "en"}, 422),
    ({"text": ["xin chào"], "title": "x"}, 422),
])
def test_bad_speech_requests_are_refused(fleet: Fleet, body: dict[str, Any], status: int) -> None:
    assert fleet.http.post(f"{API}/media/speech", json=body).status_code == status


def test_media_belongs_to_an_area_and_jobs_to_their_owner(fleet: Fleet, controller: ControllerProcess,
                                                          tmp_path: Path) -> None:
    accounts = {}
    for name, area in (("mot", "xa-mot"), ("hai", "xa-hai"), ("thon", "thon-a")):
        username = f"op.{name}.{tmp_path.name[-6:].lower()}"
        created = fleet.http.post(f"{API}/users", json={"username": username, "password": "mat-khau-dai-du",
                                                         "role": "operator", "area_id": area})
        assert created.status_code == 201, created.text
        token = httpx.post(f"{controller.url}{API}/auth/token",
                           data={"username": username, "password": "mat-khau-dai-du"}).json()["access_token"]
        accounts[name] = httpx.Client(base_url=controller.url, headers={"Authorization": f"Bearer {token}"})
    started = upload(accounts["mot"], write_steps_wav(tmp_path / "xa.wav", [600.0]))
    job_id = started.json()["job_id"]
    assert accounts["hai"].get(f"{API}/jobs/{job_id}").status_code == 404, "another operator's job"
    item = wait_job(fleet, job_id)
    assert item["area_id"] == "xa-mot"
    assert accounts["thon"].get(f"{API}/media/{item['sha256']}").status_code == 200, "usable below"
    assert accounts["hai"].get(f"{API}/media/{item['sha256']}").status_code == 403
    assert accounts["hai"].get(item["preview_url"]).status_code == 403
    assert item["sha256"] not in {m["sha256"] for m in accounts["hai"].get(f"{API}/media").json()}
    other = upload(accounts["mot"], write_steps_wav(tmp_path / "x.wav", [700.0]), area_id="xa-hai")
    assert other.status_code == 403, "cannot put media into another commune's library"
    missing = fleet.http.post(f"{API}/occurrences", json={
        "area_id": "thon-a", "level": "normal", "start_ms": 4_000_000_000_000, "duration_ms": 1000,
        "source": {"type": "media", "sha256": "cd" * 32, "size": 100}})
    assert missing.status_code == 422 and "no such media" in missing.text
    wrong_size = fleet.http.post(f"{API}/occurrences", json={
        "area_id": "thon-a", "level": "normal", "start_ms": 4_000_000_000_000, "duration_ms": 1000,
        "source": {"type": "media", "sha256": item["sha256"], "size": item["size"] + 1}})
    assert wrong_size.status_code == 422
