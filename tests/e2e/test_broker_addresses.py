"""A link given several broker addresses: it skips a dead one, and moves to another broker when
its own stops, subscribed again to what it routes.

Two Mosquitto brokers of the module's own stand for two nodes (same accounts, no shared state);
the session's broker and controller are not used.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loalang_protocol.broker_addresses import BrokerAddress
from loalang_protocol.mqtt import Backoff, LinkSettings, MqttLink
from loalang_stack import broker
from loalang_stack.broker import CONTROLLER_USERNAME, BrokerConfig
from loalang_stack.ports import free_port
from loalang_stack.process import Server

pytestmark = pytest.mark.e2e

Running = dict[MqttLink, "asyncio.Task[None]"]
TOPIC = "loa/v1/ctl/addresses-test/probe"


@dataclass
class Nodes:
    """Two running brokers with the same controller account, by address."""

    servers: dict[BrokerAddress, Server]
    password: str


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    first = BrokerConfig(tmp_path / "a", free_port())
    second = BrokerConfig(tmp_path / "b", free_port())
    password = broker.prepare(first)
    second.data_dir.mkdir()
    for name in (first.dynsec_file.name, first.password_file.name):  # the same accounts on both
        shutil.copy2(first.data_dir / name, second.data_dir / name)
    servers: dict[BrokerAddress, Server] = {}
    try:
        for config in (first, second):
            servers[BrokerAddress(config.address, config.port)] = broker.start(config)[0]
        yield Nodes(servers, password)
    finally:
        for server in servers.values():
            server.stop()


def _link(nodes: Nodes, addresses: list[BrokerAddress], name: str) -> MqttLink:
    return MqttLink(LinkSettings(
        host="unused.invalid", port=1, client_id=f"{name}-{time.time_ns()}", username=CONTROLLER_USERNAME,
        password=nodes.password, backoff=Backoff(window=0.2, cap=0.5), connect_timeout=5,
        addresses=tuple(addresses),
    ))


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    """Links started by the test, closed after it."""
    links: Running = {}
    yield links
    for link, task in links.items():
        await link.close()
        await asyncio.wait_for(task, 5)


async def _start(link: MqttLink, running: Running) -> asyncio.Queue[bytes]:
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def keep(topic: str, payload: bytes, retained: bool) -> None:
        received.put_nowait(payload)

    link.route(TOPIC, keep)
    running[link] = asyncio.create_task(link.run())
    await asyncio.wait_for(link.connected.wait(), 10)
    return received


async def test_a_dead_address_is_skipped(nodes: Nodes, running: Running) -> None:
    dead = BrokerAddress("127.0.0.1", free_port())
    live = next(iter(nodes.servers))
    link = _link(nodes, [dead], "skips-dead")
    link.use_addresses([dead, live])  # the dead one stays the first tried
    received = await _start(link, running)
    assert link.addresses.current == live
    await link.publish(TOPIC, b"through the live one")
    assert await asyncio.wait_for(received.get(), 5) == b"through the live one"


async def test_a_link_moves_to_the_other_broker_and_still_receives(nodes: Nodes, running: Running) -> None:
    link = _link(nodes, list(nodes.servers), "moves")
    received = await _start(link, running)
    first = link.addresses.current
    other = next(address for address in nodes.servers if address != first)
    nodes.servers[first].stop()
    await asyncio.wait_for(_connected_again(link), 10)
    assert link.addresses.current == other

    sender = _link(nodes, [other], "sender")
    await _start(sender, running)
    await sender.publish(TOPIC, b"after the move")
    assert await asyncio.wait_for(received.get(), 5) == b"after the move"


async def _connected_again(link: MqttLink) -> None:
    while link.connections < 2 or not link.connected.is_set():
        await asyncio.sleep(0.05)
