"""Presence in Redis: births, late wills, and the silence watchdog."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from controller.presence import PresenceStore
from loalang_protocol.messages import DeviceStatus
from tests.testkit import Stack


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
