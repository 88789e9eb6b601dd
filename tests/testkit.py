"""Helpers shared by the tests: the running stack, polling, and a fleet driver."""

from __future__ import annotations

import asyncio
import itertools
import json
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import httpx

from loalang_stack import broker
from loalang_stack.icecast import Icecast
from loalang_stack.ports import free_port
from loalang_stack.process import Server
from loalang_stack.services import ControllerProcess, agent_process
from loalang_stack.stack import LocalStack
from receiver_agent import config as config_file
from receiver_agent import enrolment

if TYPE_CHECKING:
    import numpy as np

    from loalang_stack.icecast import Icecast

ADMIN_PASSWORD = "test-admin-password"
API = "/api/v1"
# Cards count as in step within this many milliseconds in the suite. The goals (skew p95 under 1 ms
# on a good link, under 5 ms on a poor one) are measured on a quiet machine by benchmarks/live.py
# (docs/benchmarks.md); the suite runs three workers on two cores, where a loaded run saw 8 ms. It
# checks that the agents play in step at all: a tenfold regression of the poor-link goal still fails.
IN_STEP_MS = 20.0


class Stack(LocalStack):
    """The session's running broker and Redis (started in tests/conftest.py), and the settings a test
    controller gets."""

    @property
    def controller_password(self) -> str:
        """The controller's broker password."""
        return self.mqtt_password

    def controller_env(self) -> dict[str, str]:
        """LOALANG_* settings pointing a controller at this stack."""
        return {
            "LOALANG_ENVIRONMENT": "test",
            **super().controller_env(),
            "LOALANG_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "LOALANG_DEVICE_KEEPALIVE_S": "5",
            "LOALANG_MEDIA_MAX_UPLOAD_MB": "5",  # small limits, so that tests can go past them cheaply
            "LOALANG_MEDIA_MAX_DURATION_S": "600",
            "LOALANG_RELAY_ALLOWED_NETWORKS": "127.0.0.0/8",  # the tests' own Icecast stations
        }


T = TypeVar("T")
BIN = Path(sys.executable).parent


def wait_for(predicate: Callable[[], T], timeout: float, interval: float = 0.1, what: str = "") -> T:
    """Poll predicate until it returns something truthy; fail with what after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


def modem_stub(folder: Path, signal_dbm: int) -> dict[str, str]:
    """The environment of an agent with an `mmcli` on its PATH that answers as ModemManager does for an
    LTE modem (tests/mmcli): no signal until `--signal-setup` was asked, then signal_dbm. Every call is
    noted in folder/calls.log."""
    import os

    folder.mkdir(parents=True, exist_ok=True)
    transcript = Path(__file__).parent / "mmcli"
    (folder / "signal.json").write_text((transcript / "signal.json").read_text().replace("SIGNAL_DBM",
                                                                                       str(signal_dbm)))
    script = folder / "mmcli"
    script.write_text(f"""#!/bin/sh
echo "$*" >> {folder}/calls.log
case "$*" in
    *--signal-setup=*) touch {folder}/polling; echo "successfully setup signal quality information polling" ;;
    *--signal-get*) if [ -e {folder}/polling ]; then cat {folder}/signal.json;
                    else cat {transcript}/signal-not-polled.json; fi ;;
    *) cat {transcript}/modem.json ;;
esac
""")
    script.chmod(0o755)
    return {"PATH": f"{folder}:{os.environ['PATH']}"}


def quiet_hours_away_from_now(hours_ahead: int = 3) -> dict[str, str]:
    """Quiet hours of one hour starting a few hours from now (Vietnam time), so tests never fall in them."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    start = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(hours=hours_ahead)
    end = start + timedelta(hours=1)
    return {"quiet_start": start.strftime("%H:00"), "quiet_end": end.strftime("%H:00")}


def quiet_free_hour() -> int:
    """An hour of the day (Vietnam time) twelve hours from now: never in the quiet hours of an area made
    by quiet_hours_away_from_now during the session. A fixed hour (09:00) fell in them in a session
    started between 06:00 and 07:00."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    return (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(hours=12)).hour


class Fleet:
    """Drives the system the way an admin and a field technician would."""

    _ids = itertools.count(1)

    def __init__(self, controller: ControllerProcess, root: Path, password: str = ADMIN_PASSWORD) -> None:
        self.controller = controller
        self.root = root
        self.agents: list[Server] = []
        self.occurrences: list[str] = []
        self.http = httpx.Client(base_url=controller.url, timeout=15)
        self.login(password=password)

    def login(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> None:
        """Log in and keep the token for later calls."""
        response = self.http.post("/api/v1/auth/token", data={"username": username, "password": password})
        response.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def ensure_areas(self) -> None:
        """Province / commune / two villages, and a second commune."""
        existing = {a["id"] for a in self.http.get("/api/v1/areas").json()}
        tree = [
            ("tinh-thu", "Tỉnh Thử", "province", None),
            ("xa-mot", "Xã Một", "commune", "tinh-thu"),
            ("thon-a", "Thôn A", "village", "xa-mot"),
            ("thon-b", "Thôn B", "village", "xa-mot"),
            ("xa-hai", "Xã Hai", "commune", "tinh-thu"),
            ("thon-c", "Thôn C", "village", "xa-hai"),
        ]
        for area_id, name, level, parent in tree:
            if area_id not in existing:
                body: dict[str, Any] = {"id": area_id, "name": name, "level": level, "parent_id": parent}
                if parent is None:
                    body.update(quiet_hours_away_from_now())
                self.http.post("/api/v1/areas", json=body).raise_for_status()

    def register(self, area: str = "thon-a", is_test: bool = False,
                 position: tuple[float, float] = (18.68, 105.68), name: str = "") -> tuple[str, str]:
        """Create a device; returns its id and claim code."""
        device_id = f"loa-{next(self._ids)}-{int(time.time() * 1000) % 100000}"
        response = self.http.post("/api/v1/devices", json={
            "id": device_id, "name": name or f"Cụm loa {device_id}", "area_id": area,
            "latitude": position[0], "longitude": position[1], "is_test": is_test,
        })
        response.raise_for_status()
        return device_id, response.json()["claim"]["claim_code"]

    def enroll(self, code: str, folder: Path) -> subprocess.CompletedProcess[str]:
        """Run the real `receiver-agent enroll`."""
        return subprocess.run(
            [str(BIN / "receiver-agent"), "enroll", "--controller", self.controller.url, "--code", code,
             "--config", str(folder / "agent.toml")], capture_output=True, text=True, timeout=60,
        )

    def enrolled_agent(self, area: str = "thon-a", telemetry_s: float = 1.0, is_test: bool = False,
                       **where: Any) -> tuple[str, Path]:
        """Register (at a position, with a name, when given), enrol and configure a device; returns its
        id and configuration file."""
        device_id, code = self.register(area, is_test, **where)
        config = self.root / device_id / "agent.toml"
        # the enrolment `receiver-agent enroll` runs, in this process: a board's own start-up (0.5 s
        # of CPU) is not what these tests are about; self.enroll runs the command itself
        enrolment.enroll(self.controller.url, code, config)
        settings = config_file.load(config)
        config_file.save(settings.model_copy(update={"telemetry_interval_s": telemetry_s,
                                                     "clock_interval_s": 2.0}), config)
        return device_id, config

    def start(self, config: Path, env: dict[str, str] | None = None) -> Server:
        """Start `receiver-agent run` for a configuration."""
        server = agent_process(config, config.parent / "agent.log", env)
        server.start()
        self.agents.append(server)
        return server

    def device(self, device_id: str) -> dict[str, Any]:
        """GET the device."""
        response = self.http.get(f"/api/v1/devices/{device_id}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def online(self, device_id: str) -> bool:
        """Whether the controller sees the device online."""
        return bool(self.device(device_id)["online"])

    def close(self) -> None:
        """Stop every agent started here and remove the occurrences scheduled here."""
        for server in self.agents:
            server.stop()
        for occurrence_id in self.occurrences:
            self.http.delete(f"/api/v1/occurrences/{occurrence_id}")
        self.http.close()


OWN_REDIS_DB = "15"  # an own controller's Redis database unless its test names one; emptied at its start


class OwnStack(Stack):
    """A Mosquitto of a test's own beside the session's Redis (see own_stack)."""


@contextmanager
def own_stack(stack: Stack, root: Path) -> Iterator[OwnStack]:
    """The session's Redis (and Icecast) with a broker of the test's own: what a controller of the test
    publishes there (retained area states signed by its own keys, its instance's state) reaches no agent
    of the session's controller, and nothing of theirs reaches its agents."""
    with OwnStack(root / "own-stack") as own:
        own.start_broker()
        own.redis, own.redis_port, own.redis_password = stack.redis, stack.redis_port, stack.redis_password
        own.icecast = stack.icecast
        yield own


@contextmanager
def own_controller(stack: Stack, root: Path, **settings: str) -> Iterator[ControllerProcess]:
    """A controller of the test's own, with its own SQLite database, its own broker (unless stack is
    already an own_stack, which a test that reaches the broker itself gives) and, unless settings name
    one, its own Redis database: a test that stops or wipes what it uses disturbs no other; settings are
    LOALANG_* variables."""
    with ExitStack() as stop:
        if not isinstance(stack, OwnStack):
            stack = stop.enter_context(own_stack(stack, root))
        if "LOALANG_REDIS_URL" not in settings:
            flush_redis(stack, OWN_REDIS_DB)
            settings["LOALANG_REDIS_URL"] = stack.redis_url.rsplit("/", 1)[0] + "/" + OWN_REDIS_DB
        database = f"sqlite:///{root / 'own.sqlite3'}"
        env = {**stack.controller_env(), "LOALANG_DATABASE_URL": database, **settings}
        controller = ControllerProcess(root / "controller", free_port(), env)
        stop.callback(controller.stop)
        controller.start()
        yield controller


@contextmanager
def nats_system(root: Path, device_addresses: bool = False, **settings: str
                ) -> Iterator[tuple[Stack, ControllerProcess]]:
    """A three-node NATS cluster, Redis and a controller on them, under root (the same controller,
    API and admin as the session's, on the other broker), connected to any of the nodes; with
    device_addresses, devices are given every node's address at enrolment (else the first node's);
    settings are the controller's LOALANG_* variables."""
    with Stack(root) as stack:
        cluster = stack.start_nats_cluster()
        stack.start_redis()
        env = {**stack.controller_env(), **settings}
        if device_addresses:
            env["LOALANG_DEVICE_MQTT_ADDRESSES"] = cluster.mqtt_addresses
        yield stack, stack.start_controller(env)


@contextmanager
def own_fleet(stack: Stack, root: Path, **settings: str) -> Iterator[Fleet]:
    """A fleet driver over own_controller, its areas made."""
    with own_controller(stack, root, **settings) as controller:
        fleet = Fleet(controller, root / "fleet")
        try:
            fleet.ensure_areas()
            yield fleet
        finally:
            fleet.close()


def flush_redis(stack: Stack, database: str) -> None:
    """Empty one database of the session's Redis, as a Redis that came back without its data."""
    wiped = subprocess.run(["redis-cli", "-p", str(stack.redis_port), "-n", database, "FLUSHDB"],
                           capture_output=True, text=True, timeout=10)
    assert wiped.stdout.strip() == "OK", wiped.stderr


def controller_password(stack: Stack) -> str:
    """The controller's broker password (used to act as a compromised broker or controller account); on
    a NATS cluster, its login."""
    if stack.broker_config is None:
        return stack.mqtt_password
    return stack.broker_config.password_file.read_text().strip()


def mqtt_publish(stack: Stack, topic: str, payload: bytes, retain: bool = False) -> None:
    """Publish with the controller's broker account through the real mosquitto_pub."""
    args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(stack.mqtt_port), "-u", broker.CONTROLLER_USERNAME,
            "-P", controller_password(stack), "-i", f"test-pub-{time.time_ns()}", "-t", topic, "-q", "1",
            "-s"]
    if retain:
        args.append("-r")
    subprocess.run(args, input=payload, check=True, timeout=10, capture_output=True)


def ping(fleet: Fleet, device_id: str, timeout: float = 5.0) -> dict[str, Any]:
    """Send a signed ping through the API and wait for the device's reply."""
    response = fleet.http.post(f"/api/v1/devices/{device_id}/commands", json={"name": "ping"})
    response.raise_for_status()
    command_id = response.json()["command_id"]

    def reply() -> dict[str, Any] | None:
        answer = fleet.http.get(f"/api/v1/devices/{device_id}/commands/{command_id}")
        return answer.json() if answer.status_code == 200 else None

    result: dict[str, Any] = wait_for(reply, timeout, what=f"reply to ping {command_id}")
    return result


def security_events(fleet: Fleet, device_id: str) -> list[dict[str, Any]]:
    """The device's security events as stored by the controller."""
    response = fleet.http.get(f"/api/v1/devices/{device_id}/events", params={"type": "security-rejected"})
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()
    return events


def tone_onset(card_folder: Path, frequency_hz: float, min_rms: float = 300.0,
               after: float = 0.0) -> float | None:
    """Wall time at which the simulated card started playing a tone of this frequency (the first time
    after the wall time `after`), or None.

    Reads the card's WAV and time log, finds the first 10 ms period whose energy is loud and
    mostly at frequency_hz, then refines the onset to the sample inside that period.
    """
    import numpy as np

    from receiver_agent.audio.simulated import read_recording

    pcm, times = read_recording(card_folder)
    if not times:
        return None
    samples = np.frombuffer(pcm, dtype="<i2").astype(float).reshape(-1, 480)
    freqs = np.fft.rfftfreq(480, 1 / 48000)
    band = np.abs(freqs - frequency_hz) < 200  # 10 ms periods give 100 Hz bins
    for index, period in enumerate(samples):
        if times[index][1] < after or np.sqrt(np.mean(period**2)) < min_rms:
            continue
        spectrum = np.abs(np.fft.rfft(period * np.hanning(480)))
        if spectrum[band].sum() > 0.7 * spectrum.sum():
            previous = samples[index - 1] if index else np.zeros(480)
            joined = np.concatenate([previous, period])
            first_loud = int(np.argmax(np.abs(joined) > 0.1 * np.abs(period).max()))
            offset_s = (first_loud - 480) / 48000
            return times[index][1] + offset_s
    return None


def write_steps_wav(path: Path, frequencies: list[float], step_s: float = 1.0,
                    amplitude: float = 0.5) -> Path:
    """A WAV made of one tone per step (300 Hz, 350 Hz, ...), so the audio tells the position."""
    import wave

    import numpy as np

    rate = 48000
    t = np.arange(int(step_s * rate)) / rate
    pcm = np.concatenate([amplitude * np.sin(2 * np.pi * f * t) for f in frequencies])
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((pcm * 32767).astype("<i2").tobytes())
    return path


def dominant_frequencies(card_folder: Path, window_s: float = 0.1, min_rms: float = 300.0
                         ) -> list[tuple[float, float]]:
    """(wall time, dominant frequency) for each loud window of what the simulated card played.

    Windows never straddle a pause of the card's clock: a window stamped with its first period's
    time but holding sound played seconds later would place that sound seconds early."""
    import numpy as np

    from receiver_agent.audio.simulated import read_recording

    pcm, times = read_recording(card_folder)
    samples = np.frombuffer(pcm, dtype="<i2").astype(float)
    periods_per_window = max(1, round(window_s * 100))
    size = periods_per_window * 480
    result = []
    for run in _periods_played_without_a_pause(times):
        for first in range(0, len(run) - periods_per_window + 1, periods_per_window):
            period, wall = run[first]
            window = samples[period * 480:period * 480 + size]
            if len(window) < size or np.sqrt(np.mean(window**2)) < min_rms:
                continue
            spectrum = np.abs(np.fft.rfft(window * np.hanning(size)))
            result.append((wall, float(np.fft.rfftfreq(size, 1 / 48000)[int(np.argmax(spectrum))])))
    return result


CARD_PAUSE_S = 0.06  # periods are 10 ms apart while the card's clock runs; a longer step is a pause


def _periods_played_without_a_pause(times: list[tuple[int, float]]) -> list[list[tuple[int, float]]]:
    runs: list[list[tuple[int, float]]] = []
    for period, wall in times:
        if not runs or wall - runs[-1][-1][1] > CARD_PAUSE_S or period != runs[-1][-1][0] + 1:
            runs.append([])
        runs[-1].append((period, wall))
    return runs


def fake_release_wheels(folder: Path, version: str) -> list[Path]:
    """Two files named as wheels for a release at version: the controller checks a release's signature
    and hashes, never its wheels' insides (the board installs them)."""
    folder.mkdir(parents=True, exist_ok=True)
    agent = folder / f"loalang-{version}-py3-none-any.whl"
    agent.write_bytes(b"PK agent wheel " + version.encode() * 50)
    dependency = folder / "paho_mqtt-2.1.0-py3-none-any.whl"
    dependency.write_bytes(b"PK dependency " * 100)
    return [agent, dependency]


def upload_media(fleet: Fleet, path: Path, timeout: float = 60.0) -> tuple[str, int]:
    """Upload an audio file to the library and wait for its job; returns the stored file's hash and size."""
    with path.open("rb") as source:
        response = fleet.http.post("/api/v1/media", files={"file": (path.name, source, "audio/wav")})
    assert response.status_code == 202, response.text
    item = wait_job(fleet, response.json()["job_id"], timeout)
    return str(item["sha256"]), int(item["size"])


def wait_job(fleet: Fleet, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Follow a background job until it is done; fails with its error when it failed."""
    def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = fleet.http.get(f"/api/v1/jobs/{job_id}").json()
        return job if job["state"] in ("done", "failed") else None

    job = wait_for(finished, timeout, interval=0.2, what=f"job {job_id}")
    assert job["state"] == "done", job.get("error")
    result: dict[str, Any] = job["result"]
    return result


def receipts(fleet: Fleet, device_id: str, kind: str | None = None) -> list[dict[str, Any]]:
    """The device's events of one type, oldest first."""
    params = {"type": kind, "limit": 1000} if kind else {"limit": 1000}
    response = fleet.http.get(f"/api/v1/devices/{device_id}/events", params=params)
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()
    return sorted(events, key=lambda e: (e["install_id"], e["seq"]))


def schedule(fleet: Fleet, **occurrence: Any) -> str:
    """Add an occurrence through the API (confirmed with the admin's password where its level asks);
    returns its id."""
    if occurrence.get("level") in ("emergency", "live"):
        occurrence.setdefault("confirm_password", ADMIN_PASSWORD)
    response = fleet.http.post("/api/v1/occurrences", json=occurrence)
    assert response.status_code == 201, response.text
    occurrence_id = str(response.json()["id"])
    fleet.occurrences.append(occurrence_id)
    return occurrence_id


def new_commune(fleet: Fleet, villages: int = 2, **policy: Any) -> tuple[str, list[str]]:
    """A commune of its own under the test province (with policy: approval, emergency_confirm, ...),
    with villages; returns its id and theirs."""
    import secrets

    suffix = secrets.token_hex(3)
    commune_id = f"xa-rieng-{suffix}"
    fleet.http.post("/api/v1/areas", json={"id": commune_id, "name": "Xã Riêng", "level": "commune",
                                           "parent_id": "tinh-thu", **policy}).raise_for_status()
    village_ids = []
    for index in range(villages):
        village = f"thon-rieng-{index}-{suffix}"
        fleet.http.post("/api/v1/areas", json={"id": village, "name": f"Thôn {index}", "level": "village",
                                               "parent_id": commune_id}).raise_for_status()
        village_ids.append(village)
    return commune_id, village_ids


USER_PASSWORD = "mat-khau-dai-du-32"
OPERATOR_PASSWORD = "mat-khau-van-hanh-1"


def token_request(url: str, username: str, password: str, forwarded_for: str | None = None,
                  timeout: float = 30) -> httpx.Response:
    """One login attempt through the API, as sent through a proxy that forwards the client's address
    when forwarded_for is given; the answer as it came (tests of refusals and limits read it)."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return httpx.post(f"{url}{API}/auth/token", data={"username": username, "password": password},
                      headers=headers, timeout=timeout)


def login(url: str, username: str, password: str = ADMIN_PASSWORD, timeout: float = 30) -> httpx.Client:
    """Log in through the API as username; returns a client that carries the user's token."""
    answer = token_request(url, username, password, timeout=timeout)
    assert answer.status_code == 200, answer.text
    return httpx.Client(base_url=url, timeout=timeout,
                        headers={"Authorization": f"Bearer {answer.json()['access_token']}"})


def user_client(fleet: Fleet, role: str, area_id: str | None) -> tuple[httpx.Client, str]:
    """A new user of role over area_id, logged in; returns its client and user name."""
    import secrets

    username = f"{role}.{secrets.token_hex(3)}"
    fleet.http.post(f"{API}/users", json={"username": username, "password": USER_PASSWORD, "role": role,
                                          "area_id": area_id}).raise_for_status()
    return login(fleet.controller.url, username, USER_PASSWORD), username


def operator_of(fleet: Fleet, area_id: str) -> str:
    """A new operator user (password OPERATOR_PASSWORD) scoped to area_id; returns the user name."""
    import secrets

    username = f"vanhanh-{secrets.token_hex(3)}"
    created = fleet.http.post(f"{API}/users", json={"username": username, "password": OPERATOR_PASSWORD,
                                                    "role": "operator", "area_id": area_id,
                                                    "full_name": "Nguyễn Thị Vận Hành"})
    assert created.status_code == 201, created.text
    return username


def start_agents(fleet: Fleet, area_id: str, count: int) -> list[tuple[str, Path]]:
    """Enrol and start count agents in area_id, each seen online; returns their ids and configurations."""
    agents = [fleet.enrolled_agent(area=area_id) for _ in range(count)]
    for device_id, config in agents:
        fleet.start(config)
        wait_for(lambda d=device_id: fleet.online(d), 10.0, what=f"{device_id} online")
    return agents


def api_client(fleet: Fleet, role: str, area_id: str | None, **extra: Any) -> tuple[httpx.Client, str]:
    """A new API client of role over area_id (with extra settings such as cancels_others); returns an
    HTTP client with its key, and its audit name."""
    import secrets

    client_id = f"{role}-{secrets.token_hex(3)}"
    created = fleet.http.post("/api/v1/api-clients", json={"id": client_id, "name": "Hệ thống", "role": role,
                                                           "area_id": area_id, **extra})
    assert created.status_code == 201, created.text
    return httpx.Client(base_url=fleet.controller.url, timeout=30,
                        headers={"Authorization": f"Bearer {created.json()['key']}"}), f"client:{client_id}"


CAP_SENDER = "kttv-thu@example.vn"


def cap_alert(identifier: str, geocode: str, status: str = "Actual", msg_type: str = "Alert",
              instruction: str = "Bà con di chuyển lên vùng cao ngay.", references: str = "",
              sender: str = CAP_SENDER, severity: str = "Severe", expires_in_s: float = 7200) -> bytes:
    """A CAP 1.2 alert for the areas answering to geocode (VN-ADMIN)."""
    from datetime import UTC, datetime, timedelta

    sent = datetime.now(UTC).replace(microsecond=0)
    refs = f"<references>{references}</references>" if references else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier><sender>{sender}</sender><sent>{sent.isoformat()}</sent>
  <status>{status}</status><msgType>{msg_type}</msgType><scope>Public</scope>{refs}
  <info><language>vi-VN</language><category>Met</category><event>Lũ quét</event>
    <urgency>Immediate</urgency><severity>{severity}</severity><certainty>Likely</certainty>
    <expires>{(sent + timedelta(seconds=expires_in_s)).isoformat()}</expires>
    <headline>Cảnh báo lũ quét</headline><instruction>{instruction}</instruction>
    <area><areaDesc>Vùng thử</areaDesc><geocode><valueName>VN-ADMIN</valueName><value>{geocode}</value>
    </geocode></area></info>
</alert>""".encode()


def audit_entries(fleet: Fleet, action: str, actor: str, limit: int = 500) -> list[dict[str, Any]]:
    """The newest audit entries of one action by one actor (read as the whole-tree admin)."""
    entries = fleet.http.get("/api/v1/audit", params={"limit": limit}).json()
    return [e for e in entries if e["action"] == action and e["actor"] == actor]


class BrokerGate:
    """A TCP proxy in front of the broker that a test can shut (no broker) and open again."""

    def __init__(self, target_port: int) -> None:
        import asyncio
        import threading

        from loalang_stack.ports import free_port

        self.target_port = target_port
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._server: Any = None
        self._writers: set[Any] = set()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def _call(self, coroutine: Any) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def open(self) -> None:
        """Accept and forward connections."""
        self._call(self._open())

    async def _open(self) -> None:
        import asyncio

        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def _client(self, reader: Any, writer: Any) -> None:
        import asyncio

        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, upstream_writer}

        async def pipe(source: Any, sink: Any) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    def shut(self) -> None:
        """Refuse new connections and cut the open ones."""
        self._call(self._shut())

    async def _shut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()


class BrokerProxy(Protocol):
    """A proxy in front of the broker (BrokerGate, tests.mqttfaults.MqttFaults): where to connect."""

    port: int


def route_through(config: Path, gate: BrokerProxy, **broker: Any) -> None:
    """Point an agent's configuration at the gate (or another proxy) instead of the broker, with
    other broker settings changed as given (reconnect_window_s=...)."""
    settings = config_file.load(config)
    config_file.save(settings.model_copy(update={"broker": settings.broker.model_copy(
        update={"port": gate.port, **broker})}), config)


def publish_as_controller(stack: Stack, controller: ControllerProcess, topic: str, body: dict[str, Any],
                          retain: bool = True) -> None:
    """Sign body with the controller's own key and counter and publish it, as the controller would."""
    import json as json_module

    import redis as redis_client

    from loalang_protocol import envelope
    from loalang_protocol.envelope import Counter
    from loalang_protocol.keys import KeyPair

    keys = controller.data_dir / "keys"
    certificate = json_module.loads((keys / "signing.cert.json").read_text())
    store = redis_client.Redis(port=stack.redis_port)
    store.set("loa:sig:epoch", int(time.time() * 1000), nx=True)
    counter = Counter(int(store.get("loa:sig:epoch")), int(store.incr("loa:sig:seq")))  # type: ignore[arg-type]
    payload = envelope.seal(topic, body, KeyPair.load(keys / "signing.key"), counter, 3600, certificate)
    mqtt_publish(stack, topic, payload, retain=retain)


def learned_offset_ms(config: Path) -> float | None:
    """The offset to the controller's clock the agent took from the clock exchange (its health file)."""
    from receiver_agent import health

    facts = health.read(config_file.load(config).data_dir, 30.0) or {}
    offset = facts.get("clock_offset_us")
    return None if offset is None else offset / 1000


def wait_for_settled_clocks(configs: list[Path], timeout: float = 30.0) -> None:
    """Wait until agents whose clock is right have an estimate of the controller's within 3 ms of it.

    Right after an agent starts on a busy machine its first clock exchanges may be slow, and the
    estimate a few to tens of milliseconds off until faster ones come (live sync tests need it).
    """
    for config in configs:
        wait_for(lambda c=config: abs(learned_offset_ms(c) or 1e9) < 3, timeout, what="a settled clock")


MAKE_TLS = Path(__file__).resolve().parents[1] / "broker" / "make-tls.sh"


def make_tls(out: Path, *names: str, options: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run the project's broker/make-tls.sh: a private CA and a server certificate for names in out."""
    return subprocess.run(["bash", str(MAKE_TLS), *options, str(out), *names],
                          capture_output=True, text=True, timeout=60)


def self_signed(folder: Path, address: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for address and its key, as an office's internal CA would issue one."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "loalang test console")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "console.crt", folder / "console.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert_file, key_file


HttpAnswer = tuple[int, dict[str, str], bytes]  # status, headers, body


class HttpSite:
    """An HTTP server answering fixed paths (GET) and, when given post, every POST, which remembers
    every request it was sent (and each POST's body)."""

    def __init__(self, host: str, pages: dict[str, Callable[[], HttpAnswer]],
                 tls: ssl.SSLContext | None = None,
                 post: Callable[[str, bytes], HttpAnswer] | None = None) -> None:
        self.requests: list[str] = []
        self.posted: list[tuple[str, bytes]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append(self.path)
                self._answer(*pages.get(self.path, lambda: (404, {}, b""))())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                site.requests.append(self.path)
                site.posted.append((self.path, body))
                self._answer(*(post(self.path, body) if post is not None else (405, {}, b"")))

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, free_port()), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_port
        self.url = f"{'https' if tls else 'http'}://{host}:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def json_answer(value: object, status: int = 200) -> HttpAnswer:
    """An HttpSite answer carrying value as JSON."""
    return status, {"Content-Type": "application/json"}, json.dumps(value).encode()


def tls_server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """A server's TLS context with a certificate and its key (self_signed's, say)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def broker_credentials(config: Path) -> tuple[str, str, str]:
    """An enrolled agent's broker user name, password and client id."""
    settings = config_file.load(config).broker
    return settings.username, settings.password, settings.client_id


def mosquitto_args(stack: Stack, username: str | None, password: str | None, client_id: str) -> list[str]:
    """Connection arguments of mosquitto_sub and mosquitto_pub for the session's broker."""
    args = ["-h", "127.0.0.1", "-p", str(stack.mqtt_port), "-i", client_id, "-V", "mqttv311"]
    if username is not None:
        args += ["-u", username]
    if password is not None:
        args += ["-P", password]
    return args


def mqtt_sub(stack: Stack, creds: tuple[str | None, str | None, str], topic: str, wait: int = 1
             ) -> subprocess.CompletedProcess[str]:
    """mosquitto_sub with creds (user name, password, client id) for wait seconds."""
    return subprocess.run(["mosquitto_sub", *mosquitto_args(stack, *creds), "-t", topic, "-W", str(int(wait)),
                           "-v"], capture_output=True, text=True, timeout=wait + 10)


def mqtt_pub(stack: Stack, creds: tuple[str | None, str | None, str], topic: str, payload: str = "x"
             ) -> subprocess.CompletedProcess[str]:
    """mosquitto_pub one message at QoS 1 with creds (user name, password, client id)."""
    return subprocess.run(["mosquitto_pub", *mosquitto_args(stack, *creds), "-t", topic, "-m", payload,
                           "-q", "1"], capture_output=True, text=True, timeout=10)


Recording = tuple[float, "np.ndarray", list[tuple[int, float]]]  # first wall time, samples, time log
SEARCH_SAMPLES = 480  # lags are looked for within 10 ms either way


def wall_clock_audio(card: Path) -> Recording:
    """What the simulated card played, with the wall time of its first period and its time log."""
    import numpy as np

    from receiver_agent.audio.simulated import read_recording

    pcm, times = read_recording(card)
    return times[0][1], np.frombuffer(pcm, dtype="<i2").astype(float), times


def samples_at(recording: Recording, start: float, length_s: float) -> np.ndarray:
    """The samples that left the card from wall time start on, using its time log.

    Each line of the log is written when the card's thread woke up for that period, a little after
    the period began; of the 20 periods from start on, the one that woke up earliest tells best.
    """
    from receiver_agent.audio.simulated import PERIOD_S

    _, samples, times = recording
    following = [(index, wall) for index, wall in times if wall >= start][:20]
    period, at = min(following, key=lambda line: line[1] - (line[0] - following[0][0]) * PERIOD_S)
    first = period * 480 - round((at - start) * 48000)
    return samples[first:first + int(length_s * 48000)]


def lag_ms(first: Recording, second: Recording, start: float, window_s: float = 1.0) -> float:
    """How much later second plays what first plays from wall time start on (ms; negative: earlier)."""
    import numpy as np

    segments = [samples_at(r, start, window_s) for r in (first, second)]
    padded = np.concatenate([np.zeros(SEARCH_SAMPLES), segments[1], np.zeros(SEARCH_SAMPLES)])
    lag = int(np.argmax(np.correlate(padded, segments[0], "valid"))) - SEARCH_SAMPLES
    return lag / 48.0


def playing_skew_ms(cards: list[Path], window_s: float = 1.0) -> float:
    """How far apart the same audio leaves two cards: cross-correlation of the recordings in wall time."""
    recordings = [wall_clock_audio(card) for card in cards]
    start = max(r[0] for r in recordings) + 1.0
    return abs(lag_ms(recordings[0], recordings[1], start, window_s))


def band_level_db(recording: Recording, frequency_hz: float, start: float, length_s: float) -> float:
    """The level of one tone in a simulated card's recording (wall_clock_audio) from wall time start
    on, in dB of full scale (a sine at full scale is 0 dB): its amplitude, projected onto that
    frequency."""
    import numpy as np

    samples = samples_at(recording, start, length_s)
    t = np.arange(len(samples)) / 48000
    amplitude = 2 * abs(np.dot(samples, np.exp(-2j * np.pi * frequency_hz * t))) / max(1, len(samples))
    return float(20 * np.log10(max(amplitude, 1e-3) / 32767))


def tone_onset_in_mix(recording: Recording, frequency_hz: float, after: float, threshold_db: float = -30.0
                      ) -> float | None:
    """When a tone first reached threshold_db in a simulated card's recording after wall time after,
    other sounds beside it (10 ms windows a millisecond apart; the onset is a window's middle), or
    None. (tone_onset wants the tone alone.)"""
    end = recording[2][-1][1]
    at = max(after, recording[0])
    while at < end:
        if band_level_db(recording, frequency_hz, at, 0.01) >= threshold_db:
            return at + 0.005
        at += 0.001
    return None


def loud_after(card: Path, after: float) -> float | None:
    """When the card first played something loud after the wall time given (None: never)."""
    import numpy as np

    from receiver_agent.audio.simulated import read_recording

    pcm, times = read_recording(card)
    pcm = pcm[: len(pcm) - len(pcm) % 960]  # the card may be half-way through writing a period
    samples = np.frombuffer(pcm, dtype="<i2").astype(float).reshape(-1, 480)
    for index, wall in times:
        if wall > after and index < len(samples) and np.sqrt(np.mean(samples[index] ** 2)) > 300:
            return wall
    return None


def relay_schedule(fleet: Fleet, station: Icecast, area_id: str, opened_s_ago: int,
                   length_s: int) -> tuple[str, float]:
    """A background relay bulletin, approved and scheduled once, its window opened that long ago (to
    the whole second); returns the schedule's id and when its window closes."""
    bulletin = fleet.http.post(f"{API}/bulletins", json={
        "title": "Tiếp sóng Đài Quốc gia", "level": "background", "area_id": area_id,
        "relay_url": station.listen_url("station.mp3"), "duration_ms": length_s * 1000})
    assert bulletin.status_code == 201, bulletin.text
    assert bulletin.json()["status"] == "draft" and bulletin.json()["relay_url"].endswith("station.mp3")
    submitted = fleet.http.post(f"{API}/bulletins/{bulletin.json()['id']}/submit").json()
    assert submitted["status"] == "approved", submitted
    now = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).replace(microsecond=0)
    opened = now - timedelta(seconds=opened_s_ago)
    created = fleet.http.post(f"{API}/bulletins/{submitted['id']}/schedules", json={
        "kind": "once", "start_local": opened.strftime("%Y-%m-%dT%H:%M:%S"), "area_ids": [area_id]})
    assert created.status_code == 201, created.text
    schedule_id: str = created.json()["id"]
    return schedule_id, opened.timestamp() + length_s


def start_relay(fleet: Fleet, station: Icecast, areas: list[str], level: str = "live") -> dict[str, Any]:
    """Start a live broadcast relaying the station to areas (confirmed with the admin's password)."""
    created = fleet.http.post(f"{API}/broadcasts", json={
        "level": level, "live": {"kind": "relay", "url": station.listen_url("station.mp3")},
        "area_ids": areas, "confirm_password": ADMIN_PASSWORD})
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def recorded_until(card: Path) -> float:
    """The wall time of the last period the simulated card recorded (0 before the first)."""
    from receiver_agent.audio.simulated import read_recording

    _, times = read_recording(card)
    return times[-1][1] if times else 0.0


def wait_recorded(cards: list[Path], until: float, slack_s: float = 15.0) -> None:
    """Wait until every card has recorded past the wall time until (at most slack_s after it)."""
    wait_for(lambda: all(recorded_until(card) > until for card in cards), until - time.time() + slack_s,
             interval=0.2, what=f"the cards recording past {until:.1f}")


class TopicWatch:
    """A subscriber with the controller's broker account that keeps what reaches topic; it is ready
    when the broker has acknowledged the subscription (SUBACK), so nothing published after is missed."""

    def __init__(self, stack: Stack, topic: str = "loa/v1/#", timeout: float = 10.0) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-watch-{time.time_ns()}",
                                  protocol=MQTTProtocolVersion.MQTTv311)
        self.client.username_pw_set(broker.CONTROLLER_USERNAME, controller_password(stack))
        self.client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._keep
        self.client.connect("127.0.0.1", stack.mqtt_port)
        self.client.loop_start()
        if not subscribed.wait(timeout):
            self.close()
            raise AssertionError(f"no SUBACK for {topic} within {timeout} s")

    def _keep(self, client: Any, userdata: Any, message: Any) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload)))

    def lines(self) -> list[str]:
        """Everything seen so far, as mosquitto_sub -v prints it: topic, a space, the payload."""
        with self._lock:
            return [f"{topic} {payload.decode(errors='replace')}" for topic, payload in self.messages]

    def payloads(self) -> list[bytes]:
        """The payloads seen so far, oldest first."""
        with self._lock:
            return [payload for _, payload in self.messages]

    def close(self) -> None:
        """Disconnect."""
        self.client.loop_stop()
        self.client.disconnect()


async def wrong_login(url: str, username: str, number: int) -> httpx.Response:
    """One wrong login over a connection of its own, written by hand: an HTTP client library would
    take a core of this machine's two for the flood and slow the controller it measures."""
    address = urlsplit(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    body = urlencode({"username": username, "password": f"guess-{number}"}).encode()
    writer.write(f"POST /api/v1/auth/token HTTP/1.1\r\nHost: {address.netloc}\r\nConnection: close\r\n"
                 f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
                 .encode() + body)
    head, _, content = (await reader.read()).partition(b"\r\n\r\n")
    writer.close()
    status, *fields = head.decode().split("\r\n")
    headers = {name: value for name, _, value in (field.partition(": ") for field in fields)}
    return httpx.Response(int(status.split()[1]), headers=headers, content=content)


def probe_health_during(url: str, action: threading.Thread, every_s: float = 0.02
                        ) -> tuple[list[float], Counter[int]]:
    """Start action and GET /healthz every every_s while it runs: each probe's delay, timed from when
    it was due (a stall delays every probe due during it, not just one), and the statuses answered."""
    delays: list[float] = []
    statuses = Counter[int]()
    with httpx.Client(base_url=url, timeout=30) as probe:
        action.start()
        due = time.monotonic()
        while action.is_alive() or not delays:
            time.sleep(max(0.0, due - time.monotonic()))
            statuses[probe.get("/healthz").status_code] += 1
            delays.append(time.monotonic() - due)
            due += every_s
    action.join()
    return delays, statuses


# A one-second chirp (300 to 1100 Hz), over and over: its cross-correlation has one sharp peak.
CHIRP = "aevalsrc=exprs=0.4*sin(2*PI*(300*mod(t\\,1)+400*mod(t\\,1)*mod(t\\,1))):s=48000"


STATION_ATTEMPTS = 3


class IcecastDied(RuntimeError):
    """The test station's Icecast process ended."""


@contextmanager
def playing_station(root: Path, source: str = CHIRP, seconds: int = 60) -> Iterator[Icecast]:
    """A local Icecast2 server with a station (mount `station.mp3`) playing an ffmpeg aevalsrc source
    as MP3 at 64 kbit/s for seconds, given once listeners get its audio (a test that opens a relay at
    once would otherwise find no station: seen on a loaded machine, where the feeder took seconds to
    start); everything is stopped afterwards. Debian's icecast2 2.4.4 now and then dies of a segfault
    (a NULL read in libc, in the kernel's log) as its station comes on the air: then a new one is
    started, on another port, up to STATION_ATTEMPTS in all."""
    for attempt in range(STATION_ATTEMPTS):
        with LocalStack(root / f"station-{attempt}") as servers:
            server = servers.start_icecast()
            start_feeder = partial(_station_feeder, server, source, seconds, root / "station-feeder.log")
            feeder = start_feeder()
            try:
                feeder = _on_the_air(server, feeder, start_feeder)
            except IcecastDied as died:
                feeder.kill()
                feeder.wait()
                print(f"the test station's icecast2 died ({died}); starting another")
                continue
            try:
                yield server
            finally:
                feeder.kill()
                feeder.wait()
            return
    raise AssertionError(f"the test station's icecast2 died {STATION_ATTEMPTS} times")


def _station_feeder(server: Icecast, source: str, seconds: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as errors:
        return subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
             "-i", f"{source}:d={seconds}", "-ac", "1", "-c:a", "libmp3lame", "-b:a", "64k",
             "-content_type", "audio/mpeg", "-f", "mp3", server.source_url("station.mp3")],
            stdout=subprocess.DEVNULL, stderr=errors)


Feeder = subprocess.Popen[bytes]


def _on_the_air(server: Icecast, feeder: Feeder, again: Callable[[], Feeder],
                timeout: float = 30.0) -> Feeder:
    """Wait until a listener gets the station's audio, starting the feeder again if it gave up; returns
    the feeder that plays."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process = server.server.process
        if process is not None and process.poll() is not None:
            raise IcecastDied(f"exit status {process.returncode}")
        if feeder.poll() is not None:
            feeder = again()
        if _station_bytes(server.listen_url("station.mp3")) >= 4096:
            return feeder
        time.sleep(0.2)
    feeder.kill()
    raise AssertionError(f"the test station is not on the air after {timeout} s:\n{server.server.tail()}")


def _station_bytes(url: str) -> int:
    """How much of the station a listener reads in a second (0 while it is not on the air)."""
    got = 0
    try:
        with httpx.stream("GET", url, timeout=2.0) as answer:
            if answer.status_code != 200:
                return 0
            started = time.monotonic()
            for block in answer.iter_bytes():
                got += len(block)
                if got >= 4096 or time.monotonic() - started > 1.0:
                    break
    except httpx.HTTPError:
        return 0
    return got
