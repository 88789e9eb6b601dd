"""Jobs and open requests across a controller's end: a job cut off by a killed or stopped controller
reads `failed` (and asks for the upload again) instead of `running` for ever, no temporary file stays
in the media folder, and a controller with event streams open stops within seconds of SIGTERM."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_client

from controller.jobs import STALE_S
from loalang_stack.ports import free_port
from loalang_stack.services import ControllerProcess
from tests.browser import log_in
from tests.testkit import ADMIN_PASSWORD, Stack, own_stack, quiet_hours_away_from_now, wait_for

pytestmark = pytest.mark.e2e

API = "/api/v1"
REDIS_DB = 5
STORED = re.compile(r"[0-9a-f]{64}")
LONG_S = 600  # ten minutes of tone: 57.6 MB of WAV, whose two loudness passes take many seconds
STOPPED_WITHIN_S = 10.0  # measured: under a second with the streams ending at once


@pytest.fixture
def own_controller(stack: Stack, tmp_path: Path) -> Iterator[Callable[[str], ControllerProcess]]:
    """Start controllers of the test's own (not the session's, which must keep running)."""
    started: list[ControllerProcess] = []
    with own_stack(stack, tmp_path) as own:
        env = {**own.controller_env(), "LOALANG_REDIS_URL": f"redis://127.0.0.1:{stack.redis_port}/{REDIS_DB}",
               "LOALANG_MEDIA_MAX_UPLOAD_MB": "100", "LOALANG_MEDIA_MAX_DURATION_S": "3600"}

        def start(instance_id: str) -> ControllerProcess:
            controller = ControllerProcess(tmp_path / instance_id, free_port(),
                                           {**env, "LOALANG_INSTANCE_ID": instance_id})
            controller.start()
            started.append(controller)
            return controller

        yield start
        for controller in started:
            controller.stop()
            kill_tools_of(controller.data_dir / "media")


def admin(controller: ControllerProcess) -> httpx.Client:
    token = httpx.post(f"{controller.url}{API}/auth/token",
                       data={"username": "admin", "password": ADMIN_PASSWORD}).json()["access_token"]
    return httpx.Client(base_url=controller.url, timeout=30, headers={"Authorization": f"Bearer {token}"})


def long_tone(path: Path) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=f=440:d={LONG_S}",
                    "-ac", "1", "-ar", "48000", str(path)], check=True)
    return path


def start_upload(http: httpx.Client, path: Path) -> str:
    """Upload path and return its job once the job is transcoding."""
    with path.open("rb") as source:
        started = http.post(f"{API}/media", files={"file": (path.name, source, "audio/wav")})
    assert started.status_code == 202, started.text
    job_id: str = started.json()["job_id"]
    wait_for(lambda: (job := http.get(f"{API}/jobs/{job_id}").json())["state"] == "running"
             and job["progress"] > 0, 30.0, what="the transcoding under way")
    return job_id


def leftovers(media: Path) -> list[str]:
    """What the media folder holds besides stored files (named by their hash)."""
    return sorted(entry.name for entry in media.iterdir() if not STORED.fullmatch(entry.name))


def kill_tools_of(media: Path) -> None:
    """Kill ffmpeg processes still working on files of this media folder: a killed controller's
    tools run in their own sessions and outlive it."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if str(media).encode() in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)


def stored_job(job_id: str, stack: Stack) -> dict[str, Any]:
    """The job's record as Redis holds it (read while no controller runs)."""
    raw = redis_client.Redis(port=stack.redis_port, db=REDIS_DB, decode_responses=True).hgetall(
        f"loa:job:{job_id}")
    return {key: value.strip('"') for key, value in raw.items()}


def test_a_job_cut_off_by_a_killed_controller_reads_failed_after_its_restart(
        own_controller: Callable[[str], ControllerProcess], tmp_path: Path) -> None:
    controller = own_controller("ctl-jobs-kill")
    media = controller.data_dir / "media"
    job_id = start_upload(admin(controller), long_tone(tmp_path / "long.wav"))
    assert any(name.startswith(".incoming-") for name in leftovers(media)), "the upload is being worked on"

    assert controller.server is not None and controller.server.process is not None
    controller.server.process.kill()
    controller.server.process.wait(10)
    kill_tools_of(media)
    assert leftovers(media), "the killed controller left its temporary files"
    controller.start()

    http = admin(controller)
    job = wait_for(lambda: (found := http.get(f"{API}/jobs/{job_id}").json())["state"] != "running" and found,
                   30.0, what="the job no longer running")
    assert job["state"] == "failed", job
    assert job["error_code"] == "job_interrupted", job
    assert "again" in job["error"], job
    assert leftovers(media) == [], "temporary files of the killed controller were removed at its start"


def test_the_console_says_why_an_upload_cut_off_by_a_restart_failed(
        own_controller: Callable[[str], ControllerProcess], browser: Any, tmp_path: Path) -> None:
    controller = own_controller("ctl-jobs-console")
    context = browser.new_context()
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.goto(f"{controller.url}/console/#/media")
    log_in(page, "admin", ADMIN_PASSWORD)
    page.locator("h1", has_text="Thư viện").wait_for()
    upload = page.locator("form.media-upload")
    upload.locator("input[type=file]").set_input_files(str(long_tone(tmp_path / "dai.wav")))
    upload.get_by_role("button", name="Tải lên").click()
    words = upload.locator(".progress-words")
    words.filter(has_text=re.compile(r"Đang chuyển mã… [1-9]")).wait_for(timeout=30_000)

    assert controller.server is not None and controller.server.process is not None
    controller.server.process.kill()
    controller.server.process.wait(10)
    kill_tools_of(controller.data_dir / "media")
    time.sleep(2)  # the page asks while nobody answers
    controller.start()

    words.filter(has_text="Máy chủ đã dừng trước khi xử lý xong; hãy gửi lại tệp").wait_for(timeout=30_000)
    context.close()
    assert page_errors == []


def test_a_job_of_a_controller_that_never_comes_back_is_failed_by_another(
        own_controller: Callable[[str], ControllerProcess], tmp_path: Path) -> None:
    gone, other = own_controller("ctl-jobs-gone"), own_controller("ctl-jobs-other")
    job_id = start_upload(admin(gone), long_tone(tmp_path / "long.wav"))
    http = admin(other)  # the same Redis: it sees the job, and the same admin name owns it
    for _ in range(3):
        state = http.get(f"{API}/jobs/{job_id}").json()["state"]
        assert state == "running", "a job whose controller still beats is left alone"
        time.sleep(1)  # asked again over three seconds: its owner's heartbeat keeps it

    assert gone.server is not None and gone.server.process is not None
    killed_at = time.monotonic()
    gone.server.process.kill()
    gone.server.process.wait(10)
    kill_tools_of(gone.data_dir / "media")
    job = wait_for(lambda: (found := http.get(f"{API}/jobs/{job_id}").json())["state"] != "running" and found,
                   STALE_S + 15, interval=1.0, what="the job of the dead controller failed")
    assert job["state"] == "failed" and job["error_code"] == "job_interrupted", job
    assert time.monotonic() - killed_at > STALE_S - 10, "not before its heartbeat went stale"


def test_a_bulletin_whose_speech_was_cut_off_fails_instead_of_preparing_for_ever(
        own_controller: Callable[[str], ControllerProcess]) -> None:
    controller = own_controller("ctl-jobs-speech")
    http = admin(controller)
    http.post(f"{API}/areas", json={"id": "tinh-doc", "name": "Tỉnh Đọc", "level": "province",
                                    **quiet_hours_away_from_now()}).raise_for_status()
    words = "Thông báo: chiều nay mười bốn giờ, bà con trong thôn họp tại nhà văn hoá bàn việc phòng lụt. "
    created = http.post(f"{API}/bulletins", json={"title": "Thông báo dài", "text": (words * 60)[:4900],
                                                  "area_id": "tinh-doc"})
    assert created.status_code == 201, created.text
    bulletin = created.json()
    wait_for(lambda: (job := http.get(f"{API}/jobs/{bulletin['job_id']}").json())["state"] == "running"
             and job["progress"] > 0.3, 30.0, what="the spoken text being transcoded")

    assert controller.server is not None and controller.server.process is not None
    controller.server.process.kill()
    controller.server.process.wait(10)
    kill_tools_of(controller.data_dir / "media")
    controller.start()

    http = admin(controller)
    assert http.get(f"{API}/jobs/{bulletin['job_id']}").json()["state"] == "failed"
    after = http.get(f"{API}/bulletins/{bulletin['id']}").json()
    assert after["status"] == "failed", after
    assert "again" in after["note"], after
    assert leftovers(controller.data_dir / "media") == []


def test_a_job_cut_off_by_sigterm_is_failed_before_the_controller_exits(
        own_controller: Callable[[str], ControllerProcess], stack: Stack, tmp_path: Path) -> None:
    controller = own_controller("ctl-jobs-term")
    media = controller.data_dir / "media"
    job_id = start_upload(admin(controller), long_tone(tmp_path / "long.wav"))

    assert controller.server is not None and controller.server.process is not None
    controller.server.signal(signal.SIGTERM)
    controller.server.process.wait(STOPPED_WITHIN_S)

    job = stored_job(job_id, stack)
    assert job["state"] == "failed", job
    assert job["error_code"] == "job_interrupted", job
    assert leftovers(media) == [], "the stopping controller removed the job's files"


class StreamReader:
    """Reads an event stream in a thread and notes when it opened and when it ended."""

    def __init__(self, http: httpx.Client, path: str) -> None:
        self.http, self.path = http, path
        self.opened, self.ended = threading.Event(), threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            with self.http.stream("GET", self.path, timeout=None) as response:
                response.raise_for_status()
                self.opened.set()
                for _ in response.iter_lines():
                    pass
        except httpx.HTTPError:
            pass  # an ended stream is what the test waits for
        finally:
            self.ended.set()


def test_a_controller_with_an_event_stream_open_stops_within_seconds_of_sigterm(
        own_controller: Callable[[str], ControllerProcess]) -> None:
    controller = own_controller("ctl-streams")
    http = admin(controller)
    http.post(f"{API}/areas", json={"id": "tinh-dung", "name": "Tỉnh Dừng", "level": "province",
                                    **quiet_hours_away_from_now()}).raise_for_status()
    feed = StreamReader(http, f"{API}/feed")
    assert feed.opened.wait(10), "the feed opened"

    assert controller.server is not None and controller.server.process is not None
    signalled = time.monotonic()
    controller.server.signal(signal.SIGTERM)
    try:
        controller.server.process.wait(STOPPED_WITHIN_S * 2)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the controller still ran {STOPPED_WITHIN_S * 2:.0f} s after SIGTERM with a feed open")
    stopped_after = time.monotonic() - signalled
    assert feed.ended.wait(1), "the feed ended"
    assert stopped_after < STOPPED_WITHIN_S, f"stopped {stopped_after:.1f} s after SIGTERM"
    assert controller.server.process.returncode in (0, -signal.SIGTERM), controller.server.tail()
