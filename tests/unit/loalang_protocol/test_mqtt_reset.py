"""A broker that resets the connection right after sending something: on uvloop (the controller's
loop) the link notices within a couple of seconds, not at its keepalive."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time

import pytest
import uvloop

from loalang_protocol.mqtt import Backoff, LinkSettings, MqttLink

pytestmark = pytest.mark.unit

CONNACK = bytes([0x20, 0x02, 0x00, 0x00])
SUBACK_PREFIX = 0x90


def publish_packet(topic: str, payload: bytes) -> bytes:
    body = struct.pack("!H", len(topic)) + topic.encode() + payload
    return bytes([0x30, len(body)]) + body


def resetting_broker(server: socket.socket, resets: threading.Event) -> None:
    """Accept, answer CONNACK and SUBACKs, then send a PUBLISH and reset the connection at once;
    later connections are answered and kept."""
    first = True
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        conn.recv(1024)  # CONNECT
        conn.sendall(CONNACK)
        conn.settimeout(0.5)
        try:
            while packet := conn.recv(1024):
                if packet[0] >> 4 == 8:  # SUBSCRIBE: grant QoS 0
                    conn.sendall(bytes([SUBACK_PREFIX, 3]) + packet[2:4] + b"\x00")
        except TimeoutError:
            pass
        if first:
            first = False
            conn.sendall(publish_packet("loa/test", b"x" * 100))
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            resets.set()


def test_a_reset_after_data_is_noticed_long_before_the_keepalive() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    resets = threading.Event()
    threading.Thread(target=resetting_broker, args=(server, resets), daemon=True).start()
    link = MqttLink(LinkSettings(host="127.0.0.1", port=server.getsockname()[1], client_id="loa-test",
                                 keepalive=60, backoff=Backoff(window=0.1, cap=0.2)))
    link.route("loa/test", lambda *_: asyncio.sleep(0))

    async def scenario() -> float:
        task = asyncio.create_task(link.run())
        try:
            async with asyncio.timeout(10):
                await link.connected.wait()
            await asyncio.to_thread(resets.wait, 10)
            reset_at = time.monotonic()
            async with asyncio.timeout(10):  # the keepalive would take 90 s
                while link.connected.is_set():
                    await asyncio.sleep(0.05)
            return time.monotonic() - reset_at
        finally:
            await link.close()
            task.cancel()

    try:
        noticed_after = uvloop.run(scenario())
    finally:
        server.close()
    assert noticed_after < 3.0
