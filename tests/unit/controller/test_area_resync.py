"""Areas that births showed stale go out again at most once per gap each, and none is left behind."""

from __future__ import annotations

import asyncio

import pytest

from controller.mqtt.resync import AreaResync

pytestmark = pytest.mark.unit


def test_an_area_asked_for_within_its_gap_waits_for_it_and_then_goes_once() -> None:
    published: list[str] = []

    async def publish(area_id: str) -> None:
        published.append(area_id)

    async def scenario() -> None:
        resync = AreaResync(publish, min_gap_s=5.0)
        resync.want(["xa", "tinh"])
        assert await resync.flush(100.0) == ["tinh", "xa"]
        for _ in range(50):  # a board that reconnects in a loop
            resync.want(["tinh"])
            assert await resync.flush(101.0) == []
        assert await resync.flush(105.0) == ["tinh"], "once its gap is over, the asking board gets it"
        assert await resync.flush(106.0) == [] and resync.deferred == 50

    asyncio.run(scenario())
    assert published == ["tinh", "xa", "tinh"]


def test_a_failed_publication_does_not_stop_the_others() -> None:
    published: list[str] = []

    async def publish(area_id: str) -> None:
        if area_id == "a":
            raise ConnectionError("broker gone")
        published.append(area_id)

    resync = AreaResync(publish)
    resync.want(["a", "b"])
    asyncio.run(resync.flush(0.0))
    assert published == ["b"]
