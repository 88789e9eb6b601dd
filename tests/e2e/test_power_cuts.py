"""An agent killed (SIGKILL) again and again at random instants while it downloads a bulletin over a
slow link, saves its state, writes its outbox and rewrites its configuration (a new broker address
list each time): after every kill its key and configuration are whole and it starts; the download
resumes and ends with the right file; every event that was ever in its outbox reaches the controller
once, with no gap in their numbers.

A kill keeps what the kernel holds: what a real cut loses is shown by tests/unit/test_atomic_writes.py,
which replays the one atomic helper's steps with whatever was not fsynced thrown away.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from loalang_protocol.keys import KeyPair
from loalang_stack.ports import free_port
from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.testkit import Fleet, Stack, receipts, schedule, upload_media, wait_for, write_steps_wav

pytestmark = pytest.mark.e2e

KILLS = 10
DOWNLOAD_S = 12.0  # how long the bulletin takes over the slow link without a kill


@contextmanager
def slow_link(target_port: int, bytes_per_s: float) -> Iterator[str]:
    """A TCP relay to the controller that sends its answers at bytes_per_s, as a poor 4G link does;
    yields its URL."""
    port = free_port()
    ready = threading.Event()
    loop = asyncio.new_event_loop()

    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, throttled: bool) -> None:
        try:
            while chunk := await source.read(4096):
                sink.write(chunk)
                await sink.drain()
                if throttled:
                    await asyncio.sleep(len(chunk) / bytes_per_s)
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()

    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, upstream_writer, False),
                             pipe(upstream_reader, client_writer, True))

    async def serve() -> None:
        server = await asyncio.start_server(relay, "127.0.0.1", port)
        ready.set()
        async with server:
            with suppress(asyncio.CancelledError):  # the test is over
                await server.serve_forever()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for task in asyncio.all_tasks(loop):
            loop.call_soon_threadsafe(task.cancel)
        thread.join(5)


def _whole_after_a_kill(config: Path, password: str, public_key: str) -> None:
    """What a technician's board needs to start again, checked as the kill left it."""
    loaded = config_file.load(config)  # raises on a torn file
    assert loaded.broker.password == password, "the broker password survived"
    assert KeyPair.load(loaded.key_file).public_text == public_key, "the device key survived"
    state = loaded.data_dir / "state.json"
    if state.exists():
        json.loads(state.read_text())
    for event in (loaded.data_dir / "outbox").glob("*.json"):
        assert event.stat().st_size > 0, f"{event.name} is empty"
    for cached in (loaded.data_dir / "cache").iterdir():
        if cached.is_file() and "." not in cached.name:
            assert hashlib.sha256(cached.read_bytes()).hexdigest() == cached.name, "a cached file is whole"


def test_kills_at_random_instants_lose_nothing(fleet: Fleet, stack: Stack, controller: ControllerProcess,
                                               tmp_path: Path) -> None:
    rng = random.Random(23)
    steps = [300.0 + 10 * i for i in range(45)]  # 45 s: the test settings take uploads up to 5 MB
    sha, size = upload_media(fleet, write_steps_wav(tmp_path / "bulletin.wav", steps))
    device_id, config = fleet.enrolled_agent(area="thon-b")
    enrolled = config_file.load(config)
    password, public_key = enrolled.broker.password, KeyPair.load(enrolled.key_file).public_text
    data_dir = enrolled.data_dir
    live = {"host": "127.0.0.1", "port": stack.mqtt_port}
    seen_in_outbox: set[str] = set()

    with slow_link(controller.http_port, size / DOWNLOAD_S) as slow_url:
        config_file.save(enrolled.model_copy(update={"controller_url": slow_url}), config)
        agent = fleet.start(config)
        wait_for(lambda: fleet.online(device_id), 10.0, what="online")
        now = int(time.time() * 1000)
        schedule(fleet, area_id="thon-b", level="normal", start_ms=now + 2000, duration_ms=600_000,
                 max_lateness_ms=600_000, source={"type": "tone", "frequency_hz": 440})
        schedule(fleet, area_id="thon-b", level="normal", start_ms=now + 1_800_000, duration_ms=45_000,
                 source={"type": "media", "sha256": sha, "size": size})
        for kill in range(KILLS):
            extra = {"host": "127.0.0.1", "port": 20_000 + kill}  # a dead node: the list changes each time
            answer = fleet.http.put(f"/api/v1/devices/{device_id}/broker-addresses",
                                    json={"addresses": [live, extra] if kill % 2 else [extra, live]})
            assert answer.status_code == 200, answer.text
            time.sleep(rng.uniform(0.2, 2.5))
            seen_in_outbox |= {path.name for path in (data_dir / "outbox").glob("*.json")}
            agent.signal(signal.SIGKILL)
            assert agent.process is not None
            agent.process.wait(5)
            _whole_after_a_kill(config, password, public_key)
            agent = fleet.start(config)
            wait_for(lambda: fleet.online(device_id), 20.0, what=f"online after kill {kill + 1}")

        wait_for(lambda: (data_dir / "cache" / sha).is_file(), 60.0, what="the bulletin downloaded")
    assert hashlib.sha256((data_dir / "cache" / sha).read_bytes()).hexdigest() == sha
    wait_for(lambda: not list((data_dir / "outbox").glob("*.json")), 30.0, what="every event acknowledged")

    install_id = json.loads((data_dir / "state.json").read_text())["install_id"]
    events = [e for e in receipts(fleet, device_id) if e["install_id"] == install_id]
    numbers = Counter(e["seq"] for e in events)
    assert max(numbers.values()) == 1, "an event stored twice"
    assert sorted(numbers) == list(range(1, max(numbers) + 1)), "a gap: an event was lost"
    delivered = {f"{install_id}-{seq:012d}.json" for seq in numbers}
    assert seen_in_outbox <= delivered, f"lost from the outbox: {sorted(seen_in_outbox - delivered)}"
    assert any(e["type"] == "downloaded" and e["data"]["sha256"] == sha for e in events)
    access_log = (controller.data_dir / "controller.log").read_text()
    assert f'"GET /media/{sha} HTTP/1.1" 206' in access_log, "a kill came in the middle of the download"
