"""After a reconnect the link subscribes again to what it routes, even while routes come and go."""

from __future__ import annotations

import asyncio

import pytest

from loalang_protocol.mqtt import LinkSettings, MqttLink

pytestmark = pytest.mark.unit


def test_routes_added_and_removed_while_resubscribing_are_honoured() -> None:
    link = MqttLink(LinkSettings(host="127.0.0.1", port=1, client_id="loa-test"))
    for topic in ("loa/a", "loa/b", "loa/c"):
        link.route(topic, lambda *_: None)
    sent: list[str] = []

    async def subscribe(topic_filter: str, qos: int = 1) -> int:
        sent.append(topic_filter)
        if topic_filter == "loa/a":  # two streams joined and a route left while this one is sent
            link.route("loa/stream/1", lambda *_: None)
            link.route("loa/stream/2", lambda *_: None)
            await link.unsubscribe("loa/c")
        await asyncio.sleep(0)
        return qos

    link.subscribe = subscribe  # type: ignore[method-assign]
    asyncio.run(link._after_connect())
    assert sent == ["loa/a", "loa/b", "loa/stream/1", "loa/stream/2"]
    assert link.connected.is_set()
