"""The MQTT link over hours and days, compressed: message ids that wrap, and a broker gone for long.

paho numbers every message it sends, QoS 0 included, from 1 to 65,535 and round again. The link must
take as acknowledged only what the broker acknowledges while it is awaited. And a link that has failed
thousands of times (a day without a tower) must still connect when the broker is back.

A Mosquitto of the module's own with the controller's account; the session's stack is not used.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from controller.broker_accounts.mosquitto import MosquittoDynsec
from loalang_protocol.broker_addresses import BrokerAddress
from loalang_protocol.mqtt import SUBSCRIPTION_REFUSED, Backoff, LinkSettings, MqttLink
from loalang_stack import broker
from loalang_stack.broker import CONTROLLER_USERNAME, BrokerConfig
from loalang_stack.ports import free_port
from loalang_stack.process import Server

pytestmark = pytest.mark.e2e

TOPIC = "loa/v1/ctl/link-test/probe"
PAST_THE_WRAP = 70_000  # message ids run 1..65,535


@pytest.fixture
def config(tmp_path: Path) -> BrokerConfig:
    return BrokerConfig(tmp_path / "broker", free_port())


@pytest.fixture
def password(config: BrokerConfig) -> str:
    return broker.prepare(config)


@pytest.fixture
def mosquitto(config: BrokerConfig, password: str) -> Iterator[Server]:
    server = broker.start(config)[0]
    try:
        yield server
    finally:
        server.signal(signal.SIGCONT)
        server.stop()


def _link(config: BrokerConfig, password: str, **settings: object) -> MqttLink:
    return MqttLink(LinkSettings(
        host="unused.invalid", port=1, client_id=f"link-test-{time.time_ns()}", username=CONTROLLER_USERNAME,
        password=password, addresses=(BrokerAddress(config.address, config.port),), **settings,  # type: ignore[arg-type]
    ))


@pytest.fixture
async def running() -> AsyncIterator[list[tuple[MqttLink, asyncio.Task[None]]]]:
    links: list[tuple[MqttLink, asyncio.Task[None]]] = []
    yield links
    for link, task in links:
        await link.close()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 5)


async def test_no_acknowledgement_is_taken_from_before_the_ids_wrapped(
        config: BrokerConfig, password: str, mosquitto: Server, running: list) -> None:
    link = _link(config, password, ack_timeout=2.0)
    running.append((link, asyncio.create_task(link.run())))
    await asyncio.wait_for(link.connected.wait(), 10)

    for number in range(PAST_THE_WRAP):
        await link.publish(TOPIC, b"telemetry", qos=0)
        if number % 500 == 0:
            await asyncio.sleep(0)  # let the socket drain as a busy controller's would
    granted = await link.subscribe("loa/v1/ctl/link-test/other", 1)
    assert granted != SUBSCRIPTION_REFUSED, "a subscription the broker granted read as refused"
    assert granted == 1
    assert link.pending_acknowledgements == 0

    mosquitto.signal(signal.SIGSTOP)  # nobody can acknowledge anything now
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await link.publish(TOPIC, b"a receipt", qos=1)
    assert time.monotonic() - started >= 1.5, "acknowledged by nobody"
    mosquitto.signal(signal.SIGCONT)


async def test_a_link_that_failed_thousands_of_times_connects_when_the_broker_returns(
        config: BrokerConfig, password: str, running: list) -> None:
    link = _link(config, password, backoff=Backoff(window=0.0005, cap=0.002), connect_timeout=2.0)
    task = asyncio.create_task(link.run())
    running.append((link, task))
    while link.failed_attempts < 3_000:
        if task.done():
            task.result()  # the exception that ended the link
            pytest.fail("the link stopped trying")
        await asyncio.sleep(0.05)

    server = broker.start(config)[0]
    try:
        await asyncio.wait_for(link.connected.wait(), 10)
        await link.publish(TOPIC, b"back", qos=1)
    finally:
        server.stop()



RETAINED = 1_000  # a province's births and reports, as a controller subscribing again is sent them


async def test_a_burst_of_retained_messages_holds_no_subscription_answer_on_a_busy_loop(
        config: BrokerConfig, password: str, mosquitto: Server, running: list) -> None:
    """A controller subscribing again after a broker restart is sent every retained birth and report
    before its next subscription's answer. Its loop is busy (handlers, the API): the link must take
    them off the socket in few turns, or the answer misses its acknowledgement timeout and the link
    connects again, to be sent them all again."""
    writer = _link(config, password)
    running.append((writer, asyncio.create_task(writer.run())))
    await asyncio.wait_for(writer.connected.wait(), 10)
    for number in range(RETAINED):
        await writer.publish(f"loa/v1/ctl/link-test/burst/{number}", b"x" * 200, qos=0, retain=True)
    await writer.publish("loa/v1/ctl/link-test/burst/last", b"x", qos=1, retain=True)  # all are in

    link = _link(config, password, ack_timeout=2.0)
    running.append((link, asyncio.create_task(link.run())))
    await asyncio.wait_for(link.connected.wait(), 10)
    stop = asyncio.Event()

    async def busy() -> None:  # every turn of the loop costs 5 ms of other work
        while not stop.is_set():
            time.sleep(0.005)
            await asyncio.sleep(0)

    load = asyncio.create_task(busy())
    try:
        await link.subscribe("loa/v1/ctl/link-test/burst/+", 1)
        await link.subscribe("loa/v1/ctl/link-test/after", 1)  # answered after the whole burst
    finally:
        stop.set()
        await load
    assert link.messages_in >= RETAINED


QUEUED_BIRTHS = 500


async def test_the_brokers_answer_to_an_account_command_goes_before_queued_births(
        config: BrokerConfig, password: str, mosquitto: Server, running: list) -> None:
    """After a broker restart the controller is sent every device's retained birth and report and
    handles them one at a time (20-40 ms each on a loaded machine). Its account check on that
    connection awaits the broker's answer for 10 s: behind the births it came too late, the link
    gave the connection up and was sent them all again (seen every 12 s in a full run)."""
    writer = _link(config, password)
    running.append((writer, asyncio.create_task(writer.run())))
    await asyncio.wait_for(writer.connected.wait(), 10)
    for number in range(QUEUED_BIRTHS):
        await writer.publish(f"loa/v1/ctl/link-test/births/{number}", b"birth", qos=0, retain=True)
    await writer.publish("loa/v1/ctl/link-test/births/last", b"birth", qos=1, retain=True)

    link = _link(config, password)
    handled: list[str] = []

    async def slow_birth(topic: str, payload: bytes, retained: bool) -> None:
        handled.append(topic)
        await asyncio.sleep(0.02)

    link.route("loa/v1/ctl/link-test/births/+", slow_birth)
    dynsec = MosquittoDynsec(link, CONTROLLER_USERNAME, timeout=3.0)
    running.append((link, asyncio.create_task(link.run())))
    await asyncio.wait_for(link.connected.wait(), 10)
    while len(link.inbox) < QUEUED_BIRTHS // 2:  # the births are queued, being handled
        await asyncio.sleep(0.01)

    answer = await dynsec.command("getClient", username=CONTROLLER_USERNAME)
    assert answer["data"]["client"]["username"] == CONTROLLER_USERNAME
    assert len(handled) < QUEUED_BIRTHS, "answered only once the births were all handled"
