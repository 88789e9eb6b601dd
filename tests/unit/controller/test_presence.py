"""Presence in Redis: births, late wills, the silence watchdog, and presence rebuilt after Redis lost it."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import cast

import pytest
from redis.asyncio import Redis

from controller import redis_client
from controller.context import Services
from controller.fleet import history
from controller.mqtt.bridge import PresenceWatchdog
from controller.presence import CLOCK_STEP_MS, PlayReceipt, PresenceStore
from loalang_protocol import topics
from loalang_protocol.messages import DeviceStatus, Telemetry
from loalang_protocol.topics import DeviceTopic
from loalang_stack.ports import free_port
from tests.testkit import Stack

pytestmark = pytest.mark.unit


def _status(online: bool, boot: int, conn: int, install: str = "i-1") -> DeviceStatus:
    return DeviceStatus(online=online, boot=boot, conn=conn, install_id=install, ts=1000)


def test_presence_ordering_and_watchdog(stack: Stack) -> None:
    async def scenario() -> None:
        redis = Redis(port=stack.redis_port)
        store = PresenceStore(redis)
        device = "unit-presence-1"
        await store.forget(device)
        assert await store.apply_status(device, _status(True, 3, 1), now_ms=1_000)
        assert await store.apply_status(device, _status(True, 3, 2), now_ms=2_000)
        # the will of connection 1 arrives late: ignored
        assert not await store.apply_status(device, _status(False, 3, 1), now_ms=3_000)
        assert (await store.get(device)).online
        # a re-imaged board (new install id) starts its own series
        assert await store.apply_status(device, _status(True, 1, 1, install="i-2"), now_ms=4_000)
        # silent for longer than allowed: the watchdog takes it offline, a message brings it back
        assert await store.expire_silent(now_ms=4_000 + 10_000, silence_ms=7_500) == [device]
        presence = await store.get(device)
        assert not presence.online and presence.offline_reason == "silent"
        await store.touch_many({device: 15_000})
        assert (await store.get(device)).online
        assert await store.expire_silent(now_ms=16_000, silence_ms=7_500) == []
        # its own will (same connection) takes it offline for good
        assert await store.apply_status(device, _status(False, 1, 1, install="i-2"), now_ms=17_000)
        assert (await store.get(device)).offline_reason == "will"
        await store.forget(device)
        await redis.aclose()

    asyncio.run(scenario())


def test_the_watchdog_makes_up_no_presence_for_a_device_whose_hash_redis_lost(stack: Stack) -> None:
    """A device still in the online set whose presence hash is gone (one key lost) is dropped from the
    set: no half presence (no boot, no connection) that would fail every later reading of it."""
    async def scenario() -> None:
        redis = Redis(port=stack.redis_port)
        store = PresenceStore(redis)
        device = "unit-presence-lost-hash"
        await store.forget(device)
        assert await store.apply_status(device, _status(True, 2, 1), now_ms=1_000)
        await redis.delete("loa:presence:" + device)
        assert await store.expire_silent(now_ms=20_000, silence_ms=7_500) == []
        assert await store.get(device) is None
        assert await store.apply_status(device, _status(True, 2, 1), now_ms=21_000)
        assert (await store.get(device)).online
        await store.forget(device)
        await redis.aclose()

    asyncio.run(scenario())


def test_many_devices_heard_at_once(stack: Stack) -> None:
    """A batch of heard-from devices: each is touched, a silent one comes back, one whose will came
    stays offline, and one that never connected is not made up."""
    async def scenario() -> None:
        redis = Redis(port=stack.redis_port)
        store = PresenceStore(redis)
        online, silent, gone, never = (f"unit-heard-{n}" for n in range(4))
        for device in (online, silent, gone, never):
            await store.forget(device)
        for device in (online, silent, gone):
            assert await store.apply_status(device, _status(True, 1, 1), now_ms=1_000)
        assert await store.expire_silent(now_ms=2_000, silence_ms=500) == sorted([online, silent, gone])
        assert await store.apply_status(online, _status(True, 1, 2), now_ms=2_100)
        await store.apply_status(gone, _status(False, 1, 1), now_ms=2_200)  # its will, after the watchdog
        assert (await store.get(gone)).offline_reason == "will"

        await store.touch_many({online: 3_000, silent: 3_000, gone: 3_000, never: 3_000})

        assert (await store.get(online)).last_seen_ms == 3_000
        back = await store.get(silent)
        assert back.online and back.since_ms == 3_000 and back.offline_reason == ""
        assert not (await store.get(gone)).online, "a will is not undone by a late message"
        assert await store.get(never) is None
        assert await store.expire_silent(now_ms=3_500, silence_ms=1_000) == []
        for device in (online, silent, gone, never):
            await store.forget(device)
        await redis.aclose()

    asyncio.run(scenario())


def test_telemetry_brings_back_a_presence_redis_lost(stack: Stack) -> None:
    """Telemetry from a device with no presence makes it online, its connection unknown until its next
    birth; it never undoes a will, and the marker tells when Redis was emptied."""
    async def scenario() -> None:
        redis = Redis(port=stack.redis_port, db=5)  # the marker of its own: a controller may use db 0
        store = PresenceStore(redis)
        lost, gone = "unit-lost-1", "unit-lost-2"
        for device in (lost, gone):
            await store.forget(device)
        assert await store.apply_status(gone, _status(True, 2, 1), now_ms=1_000)
        assert await store.apply_status(gone, _status(False, 2, 1), now_ms=1_500)

        heard = Telemetry(ts=1, uptime_s=1, agent_version="9.9")
        assert await store.store_telemetry(lost, heard, now_ms=2_000)
        rebuilt = await store.get(lost)
        assert rebuilt is not None and rebuilt.online and rebuilt.since_ms == 2_000
        assert (rebuilt.boot, rebuilt.conn, rebuilt.install_id, rebuilt.agent_version) == (0, 0, "", "9.9")
        assert lost in await store.online_among([lost])
        assert not await store.store_telemetry(lost, Telemetry(ts=2, uptime_s=2), now_ms=2_500), "once"
        assert await store.expire_silent(now_ms=2_500 + 10_000, silence_ms=7_500) == [lost]
        # its next birth says which connection it is on; the ordering rules hold from there
        assert await store.apply_status(lost, _status(True, 4, 2), now_ms=13_000)
        assert not await store.apply_status(lost, _status(False, 4, 1), now_ms=13_500)
        assert (await store.get(lost)).online

        assert not await store.store_telemetry(gone, Telemetry(ts=3, uptime_s=3), now_ms=3_000)
        assert not (await store.get(gone)).online, "telemetry never undoes a will"

        await redis.delete("loa:presence-kept")
        assert await store.mark_kept(4_000), "gone: Redis was emptied"
        assert not await store.mark_kept(5_000)
        for device in (lost, gone):
            await store.forget(device)
        await redis.aclose()

    asyncio.run(scenario())


class _Link:
    """Records the subscriptions the watchdog sends again."""

    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self.connected.set()
        self.connected_at: float | None = 0.0
        self.subscribed: list[str] = []

    async def subscribe(self, topic_filter: str, qos: int = 1) -> int:
        self.subscribed.append(topic_filter)
        return qos


def test_watchdog_asks_for_the_births_again_when_redis_lost_presence(stack: Stack) -> None:
    """Redis emptied, a birth not written, Redis not answering: each makes the watchdog subscribe
    again to the retained device topics, once; a first start or a quiet look does not."""
    async def scenario() -> None:
        redis = Redis(port=stack.redis_port, db=6)  # a database of its own: it is flushed here
        await redis.flushdb()
        store, link = PresenceStore(redis), _Link()
        services = SimpleNamespace(presence=store, link=link, settings=SimpleNamespace(device_keepalive_s=5))
        watchdog = PresenceWatchdog(cast(Services, services))
        again = [topics.all_devices(DeviceTopic.STATUS), topics.all_devices(DeviceTopic.REPORTED)]

        await watchdog.step()
        await watchdog.step()
        assert link.subscribed == [], "at start the first subscription brings the births"
        await redis.flushdb()
        await watchdog.step()
        assert link.subscribed == again
        await watchdog.step()
        assert link.subscribed == again, "once"

        store.note_unwritten()
        await watchdog.step()
        assert link.subscribed == again * 2

        store.redis = redis_client.connect(f"redis://127.0.0.1:{free_port()}/6")  # nothing listens there
        await watchdog.step()
        await watchdog.step()
        assert link.subscribed == again * 2
        store.redis = redis
        await watchdog.step()
        assert link.subscribed == again * 3
        await redis.flushdb()
        await redis.aclose()

    asyncio.run(scenario())


def test_the_watchdog_marks_no_device_silent_while_the_controller_itself_cannot_hear(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the controller's own link is down, and for one silence after it is back, a device not
    heard from is not taken for silent: the controller could not have heard it."""
    async def scenario() -> None:
        redis = Redis(port=stack.redis_port)
        store, link = PresenceStore(redis), _Link()
        services = SimpleNamespace(presence=store, link=link, settings=SimpleNamespace(device_keepalive_s=5))
        watchdog = PresenceWatchdog(cast(Services, services))
        noted: list[str] = []

        async def note_presence(_services: object, device_id: str, *_: object) -> None:
            noted.append(device_id)

        monkeypatch.setattr(history, "note_presence", note_presence)
        device = "unit-presence-deaf"
        await store.forget(device)
        await store.apply_status(device, _status(True, 1, 1), now_ms=int(time.time() * 1000) - 60_000)

        link.connected.clear()
        await watchdog.step()
        link.connected.set()
        link.connected_at = time.time() - 1.0  # back a second ago: 7.5 s of hearing needed
        await watchdog.step()
        assert (await store.get(device)).online and noted == []
        link.connected_at = time.time() - 8.0
        await watchdog.step()
        assert not (await store.get(device)).online and noted == [device]
        await store.forget(device)
        await redis.aclose()

    asyncio.run(scenario())


def test_receipts_move_what_a_device_plays_at_once_and_late_reports_do_not_undo_them(stack: Stack) -> None:
    """A start or an end tells what plays as soon as it comes (telemetry comes only every minute or
    so); a report older than the one the index holds changes nothing, unless the device's clock went
    back; an end of something that no longer plays changes nothing."""
    async def scenario() -> None:
        redis = Redis(port=stack.redis_port)
        store = PresenceStore(redis)
        device = "unit-plays-1"
        T = 1_800_000_000_000  # a device time (ms)
        await store.forget(device)
        await store.apply_status(device, _status(True, 1, 1), now_ms=1_000)

        async def playing() -> str | None:
            return (await store.live([device]))[0].playing

        await store.store_telemetry(device, Telemetry(ts=T + 10_000, uptime_s=5))
        await store.note_plays([PlayReceipt(device, "o-tin-sang", True, T + 11_000)])
        assert await playing() == "o-tin-sang", "a start tells at once"
        await store.store_telemetry(device, Telemetry(ts=T + 10_500, uptime_s=5))  # sent earlier, came later
        assert await playing() == "o-tin-sang", "an older report does not undo it"
        await store.note_plays([PlayReceipt(device, "o-khan", True, T + 12_000),  # an emergency cuts in
                                PlayReceipt(device, "o-tin-sang", False, T + 12_000)])
        assert await playing() == "o-khan", "the end of what was cut does not end what cut in"
        assert (await store.fleet_now()).playing.get(device) == "o-khan"
        await store.note_plays([PlayReceipt(device, "o-khan", False, T + 15_000)])
        assert await playing() is None
        await store.store_telemetry(device, Telemetry(ts=T + 20_000, uptime_s=5, playing="o-tin-chieu"))
        assert await playing() == "o-tin-chieu", "newer telemetry tells too"
        await store.store_telemetry(device, Telemetry(ts=T + 20_000 - CLOCK_STEP_MS - 1, uptime_s=5))
        assert await playing() is None, "a clock that went back is believed"
        await store.forget(device)
        assert await playing() is None
        await redis.aclose()

    asyncio.run(scenario())


def test_the_offline_among_many_are_read_in_one_reply(stack: Stack) -> None:
    """What the notification watch asks every 2 s of all devices not online: since when and why each
    offline one is; online ones and those that never connected are left out; none asked, none read."""
    async def scenario() -> dict[str, tuple[int, str]]:
        redis = Redis(port=stack.redis_port)
        store = PresenceStore(redis)
        ids = [f"unit-offline-{n}" for n in range(4)]
        for device in ids:
            await store.forget(device)
        await store.apply_status(ids[0], _status(True, 1, 1), now_ms=1_000)
        await store.apply_status(ids[1], _status(True, 1, 1), now_ms=1_000)
        await store.apply_status(ids[1], _status(False, 1, 1), now_ms=2_000)  # its will
        await store.apply_status(ids[2], _status(False, 1, 1), now_ms=3_000)  # offline at its birth
        assert await store.offline_since([]) == {}
        found = await store.offline_since([*ids, *(f"unit-never-{n}" for n in range(2000))])
        for device in ids:
            await store.forget(device)
        await redis.aclose()
        return found

    found = asyncio.run(scenario())
    assert found == {"unit-offline-1": (2_000, "will"), "unit-offline-2": (3_000, "will")}
