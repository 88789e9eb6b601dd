"""The dashboard's reading of every cluster (`GET /fleet/overview`): the caller's scope only, each
cluster's presence and what it plays from Redis."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from controller.presence import PresenceStore
from loalang_protocol.messages import DeviceStatus, Telemetry
from tests.testkit import Fleet, Stack, new_commune, user_client

pytestmark = pytest.mark.e2e

API = "/api/v1"


def test_the_dashboards_reading_of_every_cluster_holds_only_the_callers(fleet: Fleet, stack: Stack) -> None:
    commune_id, villages = new_commune(fleet, villages=1)
    _, other_villages = new_commune(fleet, villages=1)
    idle, playing, never = (fleet.register(area=villages[0])[0] for _ in range(3))
    theirs, _ = fleet.register(area=other_villages[0])
    asyncio.run(births(stack, {idle: None, playing: "occ-sang", theirs: None}))
    operator, _ = user_client(fleet, "operator", commune_id)

    answer = operator.get(f"{API}/fleet/overview")
    assert answer.status_code == 200, answer.text
    clusters = answer.json()
    assert clusters["ids"] == sorted([idle, playing, never]), "only the operator's commune"
    states = zip(clusters["online"], clusters["playing"], strict=True)
    assert dict(zip(clusters["ids"], states, strict=True)) == {
        idle: (True, None), playing: (True, "occ-sang"), never: (False, None)}
    assert clusters["area_ids"] == [villages[0]] * 3
    assert clusters["names"][0] == f"Cụm loa {clusters['ids'][0]}"
    assert len(fleet.http.get(f"{API}/fleet/overview").json()["ids"]) > 3, "an admin sees the whole fleet"


async def births(stack: Stack, playing: dict[str, str | None]) -> None:
    """The devices online now (as their births would say) and what their telemetry says they play."""
    redis = Redis(port=stack.redis_port)
    store = PresenceStore(redis)
    now = int(time.time() * 1000)
    for device_id, occurrence in playing.items():
        status = DeviceStatus(online=True, boot=1, conn=1, install_id="i-1", ts=now)
        await store.apply_status(device_id, status, now)
        await store.store_telemetry(device_id, Telemetry(ts=now, uptime_s=5, playing=occurrence))
    await redis.aclose()
