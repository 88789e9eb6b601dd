"""Two controllers on one Redis and one database: one schedules; killing it hands over within 10 s,
and the new leader writes no occurrence the old one already wrote. The hand-over tests run on
Mosquitto and on a NATS cluster, where the two controllers use different nodes."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import create_engine, text

from controller.scheduling.leader import LOCK_KEY, Leadership
from loalang_protocol import topics
from loalang_protocol.topics import AreaTopic, StreamTopic
from loalang_stack import broker
from loalang_stack.icecast import Icecast
from loalang_stack.ports import free_port
from loalang_stack.services import ControllerProcess
from tests.testkit import (
    ADMIN_PASSWORD,
    Stack,
    controller_password,
    flush_redis,
    own_stack,
    quiet_hours_away_from_now,
    wait_for,
    write_steps_wav,
)

pytestmark = pytest.mark.e2e

API = "/api/v1"


@pytest.fixture
def pair(broker_stack: Stack, tmp_path: Path) -> Iterator[tuple[ControllerProcess, ControllerProcess, str]]:
    stack = broker_stack
    database = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    env = {**stack.controller_env(), "LOALANG_DATABASE_URL": database,
           "LOALANG_REDIS_URL": f"redis://127.0.0.1:{stack.redis_port}/3",
           "LOALANG_MQTT_ADDRESSES": ""}  # on NATS, the first on the first node, the second on the next
    second_port = stack.nats.nodes[1].mqtt_port if stack.nats is not None else stack.mqtt_port
    first = ControllerProcess(tmp_path / "a", free_port(), {**env, "LOALANG_INSTANCE_ID": "ctl-a"})
    second = ControllerProcess(tmp_path / "b", free_port(), {**env, "LOALANG_INSTANCE_ID": "ctl-b",
                                                             "LOALANG_MQTT_PORT": str(second_port)})
    first.start()
    shutil.copytree(first.data_dir / "keys", second.data_dir / "keys")  # one deployment, one key set
    second.start()
    try:
        yield first, second, database
    finally:
        first.stop()
        second.stop()


def admin(controller: ControllerProcess) -> httpx.Client:
    token = httpx.post(f"{controller.url}{API}/auth/token",
                       data={"username": "admin", "password": ADMIN_PASSWORD}).json()["access_token"]
    return httpx.Client(base_url=controller.url, timeout=15, headers={"Authorization": f"Bearer {token}"})


def leader(controller: ControllerProcess) -> str | None:
    value: str | None = admin(controller).get(f"{API}/system/status").json()["scheduler_leader"]
    return value


def stored(database: str, schedule_id: str) -> dict[str, int]:
    engine = create_engine(database)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, epoch FROM occurrences WHERE schedule_id = :s"),
                                  {"s": schedule_id}).all()
    engine.dispose()
    return {row_id: epoch for row_id, epoch in rows}


def daily_schedule(http: httpx.Client, sha: str, area_id: str) -> str:
    bulletin = http.post(f"{API}/bulletins", json={"title": "Tin hằng ngày", "media_sha256": sha,
                                                   "area_id": area_id}).json()
    assert http.post(f"{API}/bulletins/{bulletin['id']}/submit").json()["status"] == "approved"
    start = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).replace(second=0, microsecond=0) + timedelta(hours=1)
    created = http.post(f"{API}/bulletins/{bulletin['id']}/schedules", json={
        "kind": "daily", "start_local": start.strftime("%Y-%m-%dT%H:%M"), "area_ids": [area_id],
        "quiet_override": True})
    assert created.status_code == 201, created.text
    schedule_id: str = created.json()["id"]
    return schedule_id


# The leader lock is in Redis and the database: one broker shows it.
@pytest.mark.parametrize("broker_system", ["mosquitto"], indirect=True)
def test_one_controller_schedules_and_the_other_takes_over_when_it_dies(
        pair: tuple[ControllerProcess, ControllerProcess, str], tmp_path: Path) -> None:
    first, second, database = pair
    wait_for(lambda: leader(first) in ("ctl-a", "ctl-b"), 10.0, what="a leader")
    assert leader(first) == leader(second), "both controllers see the same leader"
    in_charge, standby = (first, second) if leader(first) == "ctl-a" else (second, first)
    http = admin(standby)
    http.post(f"{API}/areas", json={"id": "tinh-hai-may", "name": "Tỉnh Hai Máy", "level": "province",
                                    **quiet_hours_away_from_now()}).raise_for_status()
    http.post(f"{API}/areas", json={"id": "thon-hai-may", "name": "Thôn Hai Máy", "level": "village",
                                    "parent_id": "tinh-hai-may"}).raise_for_status()
    with write_steps_wav(tmp_path / "tin.wav", [440.0]).open("rb") as wav:
        job = http.post(f"{API}/media", files={"file": ("tin.wav", wav, "audio/wav")}).json()["job_id"]
    done = wait_for(lambda: http.get(f"{API}/jobs/{job}").json().get("result"), 30.0, what="media")
    schedule_id = daily_schedule(http, done["sha256"], "thon-hai-may")  # asked of the standby

    before = wait_for(lambda: len(stored(database, schedule_id)) == 7 and stored(database, schedule_id), 10.0,
                      what="a week of occurrences written by the leader")
    assert len(set(before.values())) == 1, "one epoch wrote them"
    # the leader logs what it wrote just after the commit the rows were read from
    wait_for(lambda: "occurrences added" in (in_charge.data_dir / "controller.log").read_text(), 5.0,
             what="the leader's log of what it wrote")
    assert "occurrences added" not in (standby.data_dir / "controller.log").read_text()

    assert in_charge.server is not None and in_charge.server.process is not None
    killed_at = time.monotonic()
    in_charge.server.process.kill()
    survivor = "ctl-a" if standby is first else "ctl-b"
    wait_for(lambda: leader(standby) == survivor, 10.0, what="the standby leading")
    assert time.monotonic() - killed_at < 10.0

    second_schedule = daily_schedule(admin(standby), done["sha256"], "thon-hai-may")
    def second_week() -> dict[str, int] | None:
        rows = stored(database, second_schedule)
        return rows if len(rows) == 7 else None

    after = wait_for(second_week, 10.0, what="the new leader's occurrences")
    assert len(set(after.values())) == 1 and set(after.values()) != set(before.values()), "a new epoch"
    assert stored(database, schedule_id) == before, "nothing the old leader wrote was written again"


def relay_broadcasts(http: httpx.Client, schedule_id: str) -> list[dict[str, str]]:
    """The broadcasts that aired a relay schedule's window, oldest first."""
    listed = http.get(f"{API}/broadcasts").json()
    return sorted((b for b in listed if b.get("schedule_id") == schedule_id), key=lambda b: b["created_at"])


def chunks_flow(stack: Stack, broadcast_id: str, count: int = 5, within_s: int = 10) -> bool:
    """Whether the broadcast's stream carries chunks (count of them within the time given)."""
    received = subprocess.run(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(stack.mqtt_port), "-u", broker.CONTROLLER_USERNAME,
         "-P", controller_password(stack), "-t", topics.stream(broadcast_id, StreamTopic.CHUNK),
         "-C", str(count), "-W", str(within_s)], capture_output=True, timeout=within_s + 10)
    return received.returncode == 0


def test_a_new_leader_takes_up_a_scheduled_relay_the_dead_one_was_running(
        pair: tuple[ControllerProcess, ControllerProcess, str], broker_stack: Stack,
        station: Icecast) -> None:
    stack = broker_stack
    first, second, _ = pair
    wait_for(lambda: leader(first) in ("ctl-a", "ctl-b"), 10.0, what="a leader")
    in_charge, standby = (first, second) if leader(first) == "ctl-a" else (second, first)
    http = admin(standby)
    http.post(f"{API}/areas", json={"id": "tinh-tiep-song", "name": "Tỉnh Tiếp Sóng", "level": "province",
                                    **quiet_hours_away_from_now()}).raise_for_status()
    bulletin = http.post(f"{API}/bulletins", json={
        "title": "Tiếp sóng", "level": "background", "area_id": "tinh-tiep-song",
        "relay_url": station.listen_url("station.mp3"), "duration_ms": 300_000}).json()
    http.post(f"{API}/bulletins/{bulletin['id']}/submit").raise_for_status()
    opened = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) - timedelta(seconds=5)
    schedule_id = http.post(f"{API}/bulletins/{bulletin['id']}/schedules", json={
        "kind": "once", "start_local": opened.strftime("%Y-%m-%dT%H:%M:%S"),
        "area_ids": ["tinh-tiep-song"]}).json()["id"]

    first_run = wait_for(lambda: relay_broadcasts(http, schedule_id), 15.0, what="the leader's relay")[0]
    assert first_run["status"] == "on_air" and chunks_flow(stack, first_run["id"])
    assert in_charge.server is not None and in_charge.server.process is not None
    killed_at = time.monotonic()
    in_charge.server.process.kill()

    def taken_up() -> list[dict[str, str]] | None:
        runs = relay_broadcasts(http, schedule_id)
        return runs if len(runs) == 2 and runs[1]["status"] == "on_air" else None

    runs = wait_for(taken_up, 20.0, what="the new leader's relay of the same window")
    assert chunks_flow(stack, runs[1]["id"], count=1)
    print(f"the station back on the air {time.monotonic() - killed_at:.1f} s after the leader died")
    assert runs[0]["status"] == "done", "the dead leader's broadcast was ended"
    assert not chunks_flow(stack, runs[0]["id"], count=1, within_s=3), "nothing more on the old stream"

    http.delete(f"{API}/schedules/{schedule_id}").raise_for_status()
    # the relay's session ends with its station's ffmpeg: on a loaded machine that took over 10 s
    wait_for(lambda: relay_broadcasts(http, schedule_id)[1]["status"] == "done", 30.0,
             what="the relay ended with its schedule")


def retained_occurrences(stack: Stack, area_id: str) -> list[str]:
    """The occurrence ids in an area's retained desired state, as the broker holds it now."""
    received = subprocess.run(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(stack.mqtt_port), "-u", broker.CONTROLLER_USERNAME,
         "-P", controller_password(stack), "-t", topics.area(area_id, AreaTopic.DESIRED), "-C", "1",
         "-W", "3"], capture_output=True, timeout=15)
    if received.returncode != 0:
        return []
    return [item["id"] for item in json.loads(received.stdout)["body"]["occurrences"]]


def soonest_play(database: str, schedule_id: str) -> str:
    engine = create_engine(database)
    with engine.connect() as connection:
        query = text("SELECT id FROM occurrences WHERE schedule_id = :s ORDER BY start_ms")
        row_id = connection.execute(query, {"s": schedule_id}).scalars().first()
    engine.dispose()
    return str(row_id)


def fence_epoch(database: str) -> int:
    engine = create_engine(database)
    with engine.connect() as connection:
        epoch = connection.execute(text("SELECT epoch FROM scheduler_fence")).scalar_one_or_none()
    engine.dispose()
    return int(epoch or 0)


@pytest.fixture
def own(stack: Stack, tmp_path: Path) -> Iterator[Stack]:
    """A broker of the test's own: what its controller retains (signed by its own keys) reaches no agent of
    the session's controller."""
    with own_stack(stack, tmp_path) as broker_of_its_own:
        yield broker_of_its_own


def test_after_redis_comes_back_empty_a_new_schedule_is_written_within_seconds(
        stack: Stack, own: Stack, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'own.sqlite3'}"
    env = {**own.controller_env(), "LOALANG_DATABASE_URL": database,
           "LOALANG_REDIS_URL": f"redis://127.0.0.1:{stack.redis_port}/4", "LOALANG_INSTANCE_ID": "ctl-w"}
    controller = ControllerProcess(tmp_path / "w", free_port(), env)
    flush_redis(stack, "4")
    try:
        for _ in range(3):  # leaders come and go: the database's fence climbs
            controller.start()
            wait_for(lambda: leader(controller) == "ctl-w", 10.0, what="the controller leading")
            controller.stop()
        controller.start()
        wait_for(lambda: fence_epoch(database) >= 4, 10.0, what="the fourth leader's fence")
        http = admin(controller)
        http.post(f"{API}/areas", json={"id": "tinh-xoa", "name": "Tỉnh Xoá", "level": "province",
                                        **quiet_hours_away_from_now()}).raise_for_status()
        http.post(f"{API}/areas", json={"id": "thon-xoa", "name": "Thôn Xoá", "level": "village",
                                        "parent_id": "tinh-xoa"}).raise_for_status()
        with write_steps_wav(tmp_path / "tin.wav", [440.0]).open("rb") as wav:
            job = http.post(f"{API}/media", files={"file": ("tin.wav", wav, "audio/wav")}).json()["job_id"]
        done = wait_for(lambda: http.get(f"{API}/jobs/{job}").json().get("result"), 30.0, what="media")

        flush_redis(stack, "4")
        http = admin(controller)  # the wipe took the login with it
        wiped_at = time.monotonic()
        schedule_id = daily_schedule(http, done["sha256"], "thon-xoa")
        wait_for(lambda: len(stored(database, schedule_id)) == 7, 10.0,
                 what="the week written after the wipe")
        wait_for(lambda: fence_epoch(database) > 4, 10.0, what="a new epoch above the old fence, not refused")
        soonest = soonest_play(database, schedule_id)
        wait_for(lambda: soonest in retained_occurrences(own, "thon-xoa"), 10.0,
                 what="the next play in the area's retained desired state")
        print(f"written and published {time.monotonic() - wiped_at:.1f} s after the wipe")
    finally:
        controller.stop()


class SuccessorSlipsIn:
    """The session's Redis, where the leader's lock expires and another controller takes it at the
    instant the leader resigns: between any read of the lock and what the leader does next."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.redis, name)

    async def get(self, key: str) -> Any:
        value = await self.redis.get(key)
        await self._slip_in(key)
        return value

    async def eval(self, script: str, numkeys: int, key: str, *args: Any) -> Any:
        await self._slip_in(key)
        return await self.redis.eval(script, numkeys, key, *args)

    async def _slip_in(self, key: str) -> None:
        if self.armed and key == LOCK_KEY:
            self.armed = False
            await self.redis.set(LOCK_KEY, SUCCESSOR, px=5000)


SUCCESSOR = "ctl-successor:0123456789ab"


async def test_resigning_never_deletes_the_lock_a_successor_took(stack: Stack) -> None:
    flush_redis(stack, "6")
    redis = Redis(port=stack.redis_port, db=6)
    try:
        slipping = SuccessorSlipsIn(redis)
        leadership = Leadership(slipping, "ctl-old")  # type: ignore[arg-type]
        assert await leadership.step()
        slipping.armed = True
        await leadership.resign()
        assert not leadership.leading
        holder = await redis.get(LOCK_KEY)
        assert holder == SUCCESSOR.encode(), "the leader that resigned deleted its successor's lock"
    finally:
        await redis.aclose()
