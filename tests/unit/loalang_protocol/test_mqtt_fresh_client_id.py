"""A broker that keeps cutting one client id while it subscribes (NATS 2.9 once it lost track of that
session) is left behind under a new client id, when the link's owner allows one."""

from __future__ import annotations

import asyncio
import contextlib
import struct

import pytest

from loalang_protocol.mqtt import CUTS_BEFORE_NEW_CLIENT_ID, Backoff, LinkSettings, MqttLink

pytestmark = pytest.mark.unit

CONNECT, SUBSCRIBE, PINGREQ, DISCONNECT = 1, 8, 12, 14


class SessionLosingBroker:
    """Just enough of an MQTT 3.1.1 broker: it accepts every CONNECT, and answers a SUBSCRIBE by
    closing the connection while the client id is one it lost track of (the first `cuts` times)."""

    def __init__(self, stuck: str, cuts: int) -> None:
        self.stuck, self.cuts = stuck, cuts
        self.client_ids: list[str] = []
        self.port = 0

    async def start(self) -> asyncio.Server:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client_id = ""
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                kind, body = await read_packet(reader)
                if kind == CONNECT:
                    client_id = connect_client_id(body)
                    self.client_ids.append(client_id)
                    writer.write(b"\x20\x02\x00\x00")
                elif kind == SUBSCRIBE:
                    if client_id == self.stuck and self.cuts > 0:
                        self.cuts -= 1
                        break
                    writer.write(suback(body))
                elif kind == PINGREQ:
                    writer.write(b"\xd0\x00")
                elif kind == DISCONNECT:
                    break
                await writer.drain()
        writer.close()


async def read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first = (await reader.readexactly(1))[0]
    length, shift = 0, 0
    while True:
        byte = (await reader.readexactly(1))[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return first >> 4, await reader.readexactly(length)


def connect_client_id(body: bytes) -> str:
    """The client id of a 3.1.1 CONNECT: after the protocol name, level, flags and keepalive."""
    (name_length,) = struct.unpack_from("!H", body, 0)
    offset = 2 + name_length + 4
    (id_length,) = struct.unpack_from("!H", body, offset)
    return body[offset + 2:offset + 2 + id_length].decode()


def suback(body: bytes) -> bytes:
    """Grant every topic filter of a SUBSCRIBE the QoS it asked for."""
    packet_id, offset, granted = body[:2], 2, b""
    while offset < len(body):
        (length,) = struct.unpack_from("!H", body, offset)
        offset += 2 + length
        granted += body[offset:offset + 1]
        offset += 1
    payload = packet_id + granted
    return bytes([0x90, len(payload)]) + payload


async def listening_link(broker: SessionLosingBroker, fresh: bool, within_s: float) -> bool:
    """Run a link against the broker; whether it listened (every subscription granted) in time."""
    server = await broker.start()
    settings = LinkSettings("127.0.0.1", broker.port, "controller-ctl-1",
                            backoff=Backoff(window=0.01, cap=0.02),
                            fresh_client_id=(lambda: "controller-ctl-1-fresh") if fresh else None)
    link = MqttLink(settings)
    listening = asyncio.Event()

    async def heard() -> None:
        listening.set()

    link.on_listening = heard
    link.route("loa/v1/ctl/test", lambda *_: None)
    task = asyncio.create_task(link.run())
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_s):
                await listening.wait()
        return listening.is_set()
    finally:
        await link.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        server.close()


def test_a_client_id_cut_again_and_again_is_given_up_for_a_fresh_one() -> None:
    broker = SessionLosingBroker("controller-ctl-1", cuts=1000)
    assert asyncio.run(listening_link(broker, fresh=True, within_s=10.0))
    assert broker.client_ids == ["controller-ctl-1"] * CUTS_BEFORE_NEW_CLIENT_ID + ["controller-ctl-1-fresh"]


def test_without_a_fresh_id_the_link_keeps_its_own() -> None:
    broker = SessionLosingBroker("controller-ctl-1", cuts=1000)
    assert not asyncio.run(listening_link(broker, fresh=False, within_s=1.0))
    assert len(broker.client_ids) > CUTS_BEFORE_NEW_CLIENT_ID
    assert set(broker.client_ids) == {"controller-ctl-1"}


def test_fewer_cuts_than_the_limit_keep_the_client_id() -> None:
    """A node lost under the link cuts a connection or two; that is no reason to become another client."""
    broker = SessionLosingBroker("controller-ctl-1", cuts=CUTS_BEFORE_NEW_CLIENT_ID - 1)
    assert asyncio.run(listening_link(broker, fresh=True, within_s=10.0))
    assert set(broker.client_ids) == {"controller-ctl-1"}
