"""After a reconnect the link subscribes again to what it routes, even while routes come and go."""

from __future__ import annotations

import asyncio

import pytest

from loalang_protocol.mqtt import SUBSCRIPTION_REFUSED, Backoff, LinkSettings, MqttLink

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


def _link_answering(answers: dict[str, list[int]], sent: list[str]) -> MqttLink:
    """A link whose broker answers each subscription from answers (granted when none is left)."""
    link = MqttLink(LinkSettings(host="127.0.0.1", port=1, client_id="loa-test"))
    link.settings.resubscribe = Backoff(window=0.01, cap=0.02)
    for topic in ("loa/a", "loa/b"):
        link.route(topic, lambda *_: None)

    async def subscribe(topic_filter: str, qos: int = 1) -> int:
        sent.append(topic_filter)
        queue = answers.get(topic_filter)
        return queue.pop(0) if queue else qos

    link.subscribe = subscribe  # type: ignore[method-assign]
    return link


def test_a_refused_subscription_is_asked_for_again_until_granted() -> None:
    """A cluster node refuses a subscription while its JetStream has no leader (docs/nats.md)."""
    sent: list[str] = []
    link = _link_answering({"loa/b": [SUBSCRIPTION_REFUSED, SUBSCRIPTION_REFUSED]}, sent)

    async def scenario() -> None:
        link._session_up = True
        await link._after_connect()
        assert link.connected.is_set(), "the birth does not wait for the refused subscription"
        await asyncio.sleep(0.5)

    asyncio.run(scenario())
    assert sent == ["loa/a", "loa/b", "loa/b", "loa/b"]


def test_refused_subscriptions_are_left_to_the_next_connection_once_this_one_is_lost() -> None:
    sent: list[str] = []
    link = _link_answering({"loa/b": [SUBSCRIPTION_REFUSED] * 100}, sent)

    async def scenario() -> None:
        link._session_up = True
        await link._after_connect()
        await asyncio.sleep(0.1)
        link._session_up = False
        asked = len(sent)
        await asyncio.sleep(0.2)
        assert len(sent) == asked

    asyncio.run(scenario())
    assert len(sent) > 2


def _listening_calls(link: MqttLink) -> list[int]:
    calls: list[int] = []

    async def listening() -> None:
        calls.append(link.connections)

    link.on_listening = listening
    return calls


def test_the_owner_hears_the_link_listens_at_once_when_every_subscription_is_granted() -> None:
    link = _link_answering({}, [])
    calls = _listening_calls(link)
    link._session_up = True
    asyncio.run(link._after_connect())
    assert calls == [0]


def test_the_owner_hears_the_link_listens_only_once_a_refused_subscription_is_granted() -> None:
    """A controller says it is online only when the agents' births and clock requests reach it."""
    link = _link_answering({"loa/b": [SUBSCRIPTION_REFUSED, SUBSCRIPTION_REFUSED]}, [])
    calls = _listening_calls(link)

    async def scenario() -> None:
        link._session_up = True
        await link._after_connect()
        assert calls == [], "not while loa/b is refused"
        await asyncio.sleep(0.5)

    asyncio.run(scenario())
    assert calls == [0]


def test_a_connection_lost_while_asking_again_never_says_it_listens() -> None:
    link = _link_answering({"loa/b": [SUBSCRIPTION_REFUSED] * 100}, [])
    calls = _listening_calls(link)

    async def scenario() -> None:
        link._session_up = True
        await link._after_connect()
        await asyncio.sleep(0.05)
        link._session_up = False
        await asyncio.sleep(0.2)

    asyncio.run(scenario())
    assert calls == []
