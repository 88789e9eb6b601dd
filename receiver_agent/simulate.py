"""Many simulated receivers, enrolled the way a real device is, in one process or several.

Each simulated receiver has its own folder (configuration, key, state, outbox, simulated
sound card). A receiver without a configuration is registered through the controller's API
with an admin login, given a claim code, and enrolled with it like a real board.

A province's fleet (thousands) runs with the null sound card and no decoder (`audio="null"`),
real decoding on every Nth receiver, spread over several processes, each an event loop on epoll
(paho's own select() loop fails past 1,024 descriptors; MqttLink never uses it).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import multiprocessing
import os
import random
import resource
import signal
import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loalang_protocol.mqtt import AuthenticationFailed, Backoff

from . import config as config_file
from .agent import Agent
from .enrolment import EnrolmentError, enroll
from .sinks import make_sink

log = logging.getLogger(__name__)

ENROLMENT_WORKERS = 6
UNPLACED_CENTRE = (18.67, 105.68)  # where receivers of an area without a position are scattered
UNPLACED_SPREAD = 0.05  # degrees either way
PLACED_SPREAD = 0.002  # about 200 m around the area's own position: inside its village on the map
MAX_THREADS = 64
COLLECT_EVERY_S = 20.0
COLLECT_CLEAR_S = 10.0
LOOK_AT_FROZEN_EVERY = 6  # collections: every sixth (about 2 minutes) also looks at what was frozen


class DeviceExists(EnrolmentError):
    """The controller already has a device by that id."""


def _error_code(body: str) -> object:
    """The stable code of an API error's JSON body; None when the body is not one."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    return answer.get("code") if isinstance(answer, dict) else None


@dataclass
class Registrar:
    """Registers simulated devices through the controller's API, logged in once."""

    controller_url: str
    username: str
    password: str
    _token_cache: str | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _request(self, path: str, body: dict[str, Any] | None, token: str | None = None,
                 form: bool = False) -> dict[str, Any]:
        url = self.controller_url.rstrip("/") + path
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if form:
            data = urllib.parse.urlencode(body or {}).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
                result: dict[str, Any] = json.loads(response.read())
                return result
        except urllib.error.HTTPError as exc:
            said = exc.read(500).decode(errors="replace")
            kind = DeviceExists if _error_code(said) == "device_exists" else EnrolmentError
            raise kind(f"{path}: {exc.code} {said}") from None

    def _token(self) -> str:
        with self._lock:
            if self._token_cache is None:
                answer = self._request("/api/v1/auth/token",
                                       {"username": self.username, "password": self.password}, form=True)
                self._token_cache = str(answer["access_token"])
            return self._token_cache

    def ensure_area(self, area_id: str) -> tuple[float, float] | None:
        """Create area_id as a root village when it does not exist (a bare deployment); returns the
        area's position (latitude, longitude) when it has one."""
        token = self._token()
        request = urllib.request.Request(  # noqa: S310
            f"{self.controller_url.rstrip('/')}/api/v1/areas/{area_id}",
            headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
                area = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise EnrolmentError(f"cannot look up area {area_id}: {exc.code}") from None
            self._request("/api/v1/areas", {"id": area_id, "name": area_id, "level": "village"}, token)
            log.info("created area %s for simulated receivers", area_id)
            return None
        latitude, longitude = area.get("latitude"), area.get("longitude")
        return None if latitude is None or longitude is None else (float(latitude), float(longitude))

    def claim_code(self, device_id: str, area_id: str, latitude: float, longitude: float) -> str:
        """Register a device and return its claim code; a device an interrupted run registered but
        never enrolled (it has no configuration here) gets a new code instead."""
        token = self._token()
        try:
            created = self._request("/api/v1/devices", {
                "id": device_id, "name": f"Simulated {device_id}", "area_id": area_id,
                "latitude": latitude, "longitude": longitude,
            }, token)
        except DeviceExists:
            renewed = self._request(f"/api/v1/devices/{device_id}/claim-code", {}, token)
            return str(renewed["claim_code"])
        code: str = created["claim"]["claim_code"]
        return code


def prepare_receivers(root: Path, count: int, areas: list[str], registrar: Registrar | None,
                      controller_url: str, prefix: str = "sim", allow_plain_http: bool = False) -> list[Path]:
    """Make sure count receivers are enrolled under root; returns their configuration files
    (allow_plain_http: see enrolment.enroll)."""
    paths = [root / f"{prefix}-{index + 1}" / "agent.toml" for index in range(count)]
    missing = [index for index, path in enumerate(paths) if not path.exists()]
    if not missing:
        return paths
    if registrar is None:
        raise EnrolmentError(f"{paths[missing[0]]} does not exist and no admin login was given to enrol it")
    positions = {area: registrar.ensure_area(area) for area in dict.fromkeys(areas)}

    def enrol_one(index: int) -> None:
        device_id, area = f"{prefix}-{index + 1}", areas[index % len(areas)]
        code = registrar.claim_code(device_id, area, *scattered_around(positions[area]))
        enroll(controller_url, code, paths[index], allow_plain_http=allow_plain_http)
        log.info("simulated receiver %s enrolled in %s", device_id, area)

    # A workshop enrols boards side by side (the controller sends their broker accounts one at a time,
    # so more than a few at once gains nothing); list() raises the first enrolment that failed.
    with ThreadPoolExecutor(max_workers=ENROLMENT_WORKERS) as pool:
        list(pool.map(enrol_one, missing))
    return paths


def scattered_around(position: tuple[float, float] | None) -> tuple[float, float]:
    """A receiver's position: near its area's own position when it has one (so the map shows it in its
    village), else somewhere around the default centre."""
    centre, spread = (position, PLACED_SPREAD) if position else (UNPLACED_CENTRE, UNPLACED_SPREAD)
    return centre[0] + random.uniform(-spread, spread), centre[1] + random.uniform(-spread, spread)


@dataclass(frozen=True)
class Simulation:
    """How the simulated receivers run."""

    telemetry_interval_s: float | None = None
    clock_interval_s: float | None = None  # a soak run asks for the time every few seconds
    null_audio: bool = False  # the null card and no decoder...
    decode_every: int = 0  # ...except every Nth receiver, which decodes onto the simulated card (0: none)


def _configured(path: Path, index: int, simulation: Simulation) -> config_file.AgentConfig:
    config = config_file.load(path)
    update: dict[str, Any] = {}
    if simulation.telemetry_interval_s is not None:
        update["telemetry_interval_s"] = simulation.telemetry_interval_s
    if simulation.clock_interval_s is not None:
        update["clock_interval_s"] = simulation.clock_interval_s
    decodes = simulation.decode_every > 0 and index % simulation.decode_every == 0
    if simulation.null_audio and not decodes:
        update["audio"] = config.audio.model_copy(update={"sink": "null"})
    return config.model_copy(update=update) if update else config


def run_fleet(config_paths: list[Path], simulation: Simulation, processes: int = 1) -> None:
    """Run every receiver until SIGTERM or SIGINT, spread over processes (each its own event loop)."""
    _raise_descriptor_limit()
    processes = max(1, min(processes, len(config_paths)))
    numbered = list(enumerate(config_paths))
    if processes == 1:
        _run_slice(numbered, simulation)
        return
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_run_slice, args=(numbered[start::processes], simulation),
                               name=f"simulate-{start}") for start in range(processes)]
    for worker in workers:
        worker.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.is_set() and any(worker.is_alive() for worker in workers):
        stop.wait(0.5)
    for worker in workers:
        if worker.is_alive() and worker.pid is not None:
            os.kill(worker.pid, signal.SIGTERM)
    for worker in workers:
        worker.join(timeout=30)


def _run_slice(numbered: list[tuple[int, Path]], simulation: Simulation) -> None:
    """One process's share (receivers by their number in the fleet): its own event loop, stopped by
    SIGTERM or SIGINT."""
    _raise_descriptor_limit()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(run_agents(numbered, simulation))
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(serve())


def _raise_descriptor_limit() -> None:
    """A socket per receiver (and a few files): allow as many descriptors as the system lets us."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def run_agents(numbered: list[tuple[int, Path]], simulation: Simulation | None = None) -> None:
    """Run the receivers (numbered within the fleet) in this event loop until cancelled."""
    simulation = simulation or Simulation()
    # Each board does its blocking work (syncing files, downloading) on its own CPU; here they share
    # this process's threads, so there are more of them than asyncio's default of a few.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=min(MAX_THREADS, 4 + len(numbered) // 25)))
    agents = []
    for index, path in numbered:
        config = _configured(path, index, simulation)
        agents.append(Agent(config, make_sink(config), Backoff(), config_path=path))
    log.info("running %s simulated receivers", len(agents))
    tasks = [asyncio.create_task(_run_one(agent)) for agent in agents]
    collector = asyncio.create_task(_keep_collections_short(agents))
    try:
        await asyncio.gather(*tasks)
    finally:
        collector.cancel()
        await asyncio.gather(*(agent.stop() for agent in agents), return_exceptions=True)


async def _keep_collections_short(agents: list[Agent]) -> None:
    """Keep the garbage collector's pauses as short as a board's.

    A board's agent has a small heap. A process holding hundreds of receivers has one that no board
    has: a full collection of it stopped every receiver of the process for 130-300 ms (measured at
    500 a process), and the starts that fell in it were late by as much. Here the automatic full
    collection is off; one runs when no receiver of the process starts within the next
    COLLECT_CLEAR_S, then freezes what survived, so that the next sees only what was made since.
    The collector never looks at frozen objects again, so a cycle that became garbage after it was
    frozen would stay for good (the simulator grew by ~4.7 kB a receiver a minute in the soak): every
    LOOK_AT_FROZEN_EVERY-th collection unfreezes first and looks at the whole heap, at a time when no
    receiver of the process starts either."""
    first, second, _ = gc.get_threshold()
    gc.set_threshold(first, second, 2**31 - 1)
    collections = 0
    while True:
        await asyncio.sleep(COLLECT_EVERY_S)
        if not any(_starts_within(agent, COLLECT_CLEAR_S) for agent in agents):
            collections = (collections + 1) % LOOK_AT_FROZEN_EVERY
            if collections == 0:
                gc.unfreeze()
            found = gc.collect()
            if collections == 0:
                log.info("garbage collection of the whole heap: %s unreachable objects", found)
            gc.freeze()


def _starts_within(agent: Agent, seconds: float) -> bool:
    item = agent.engine.next_item()
    return item is not None and item.start_ms - agent.engine.time.now_ms() < seconds * 1000


async def _run_one(agent: Agent) -> None:
    """One receiver; a crash restarts it (as the service manager would) without touching the others."""
    while True:
        try:
            await agent.run()
            return
        except AuthenticationFailed as exc:
            log.error("device %s: %s; this receiver stops", agent.device_id, exc)
            return
        except Exception:
            log.exception("device %s: agent failed; restarting it in 5 s", agent.device_id)
            await asyncio.sleep(5)
