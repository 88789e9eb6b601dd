"""The fault-injecting MQTT proxy cuts the broker's bytes into whole packets, keeps their order, and
loses only QoS 0 publications."""

from __future__ import annotations

import secrets
import socket
import subprocess
import threading
import time

import pytest

from loalang_protocol import topics
from loalang_stack import broker
from tests.mqttfaults import MalformedPacket, MqttFaults, droppable, remaining_length, split_packets
from tests.testkit import Stack, controller_password, wait_for

pytestmark = pytest.mark.unit

PINGRESP = b"\xd0\x00"
PUBACK = b"\x40\x02\x00\x07"


def encoded_length(value: int) -> bytes:
    """MQTT's variable-length encoding of a remaining length."""
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def publish(payload_size: int, qos: int = 0) -> bytes:
    """A PUBLISH packet to topic "t" carrying payload_size bytes."""
    body = b"\x00\x01t" + (b"\x00\x01" if qos else b"") + bytes(payload_size)
    return bytes([0x30 | qos << 1]) + encoded_length(len(body)) + body


@pytest.mark.parametrize(("value", "encoded"), [
    (0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"), (16_384, b"\x80\x80\x01"),
    (2_097_151, b"\xff\xff\x7f"), (268_435_455, b"\xff\xff\xff\x7f"),
])
def test_the_remaining_length_is_read_from_one_to_four_bytes(value: int, encoded: bytes) -> None:
    assert encoded_length(value) == encoded
    assert remaining_length(b"\x30" + encoded) == (value, len(encoded))


def test_an_incomplete_or_overlong_remaining_length() -> None:
    assert remaining_length(b"\x30\x80\x80") is None
    with pytest.raises(MalformedPacket):
        remaining_length(b"\x30\xff\xff\xff\xff\x01")


def test_packets_with_one_two_and_three_byte_lengths_are_split_whatever_the_pieces() -> None:
    packets = [PINGRESP, publish(10), publish(200, qos=1), PUBACK, publish(20_000), PINGRESP]
    lengths = [remaining_length(p) for p in (publish(10), publish(200), publish(20_000))]
    assert [length[1] for length in lengths if length] == [1, 2, 3]
    stream = b"".join(packets)
    for piece in (1, 2, 3, 7, 1000, len(stream)):
        buffer, found = bytearray(), []
        for start in range(0, len(stream), piece):
            buffer += stream[start:start + piece]
            found += split_packets(buffer)
        assert found == packets and not buffer, f"pieces of {piece} bytes"


def test_only_qos_0_publications_may_be_dropped() -> None:
    assert droppable(publish(5)) and droppable(bytes([0x31]) + publish(5)[1:])  # retained too
    assert not droppable(publish(5, qos=1)) and not droppable(publish(5, qos=2))
    assert not droppable(PUBACK) and not droppable(PINGRESP) and not droppable(b"\x20\x02\x00\x00")


def fake_broker(packets: list[bytes]) -> tuple[socket.socket, threading.Thread]:
    """A listening socket that sends packets to its first client, in pieces of 100 bytes, then closes."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = server.accept()
        stream = b"".join(packets)
        for start in range(0, len(stream), 100):
            connection.sendall(stream[start:start + 100])
        connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server, thread


def receive_all(port: int) -> list[bytes]:
    """Connect, read until the proxy closes, and split what came into packets."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        data = bytearray()
        while chunk := client.recv(65536):
            data += chunk
    return split_packets(data)


def test_the_proxy_delays_in_order_and_loses_only_qos_0_publications() -> None:
    sent = [PINGRESP, *(publish(i, qos=i % 2) for i in range(200)), PUBACK]
    server, thread = fake_broker(sent)
    with MqttFaults(server.getsockname()[1], jitter_ms=20, loss=0.5, seed=1) as faults:
        began = time.monotonic()
        received = receive_all(faults.port)
        elapsed = time.monotonic() - began
    thread.join(5)
    server.close()
    assert received[0] == PINGRESP and received[-1] == PUBACK
    assert [p for p in sent if not droppable(p)] == [p for p in received if not droppable(p)]
    kept = [p for p in sent if droppable(p) and p in received]
    assert 20 < len(kept) < 80 and faults.dropped == 100 - len(kept), "about half the QoS 0 ones"
    assert faults.forwarded == len(received) and elapsed > 0.005


def test_the_same_seed_loses_the_same_packets() -> None:
    sent = [publish(i) for i in range(100)]
    runs = []
    for _ in range(2):
        server, thread = fake_broker(sent)
        with MqttFaults(server.getsockname()[1], loss=0.3, seed=7) as faults:
            runs.append(receive_all(faults.port))
        thread.join(5)
        server.close()
    assert runs[0] == runs[1] and 50 < len(runs[0]) < 90


def test_a_client_keeps_its_session_through_the_proxy_to_the_real_broker(stack: Stack) -> None:
    topic = f"{topics.PREFIX}/test/faults/{secrets.token_hex(4)}"
    with MqttFaults(stack.mqtt_port, jitter_ms=30, loss=0.4, seed=3) as faults:
        subscriber = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(faults.port),
             "-u", broker.CONTROLLER_USERNAME, "-P", controller_password(stack),
             "-t", topic, "-q", "1", "-W", "20"],
            stdout=subprocess.PIPE, text=True)
        wait_for(lambda: faults.forwarded >= 2, 10.0, what="CONNACK and SUBACK through the proxy")
        for qos in (0, 1):
            publish_lines(stack, topic, [f"{qos}-{i}" for i in range(50)], qos)
        time.sleep(0.5)
        subscriber.terminate()
        lines = (subscriber.communicate(timeout=10)[0]).split()
    assert [x for x in lines if x[:2] == "1-"] == [f"1-{i}" for i in range(50)], "QoS 1: all, in order"
    assert 15 < sum(x.startswith("0-") for x in lines) < 45 and faults.dropped > 0


def publish_lines(stack: Stack, topic: str, lines: list[str], qos: int) -> None:
    """Publish each line as a message, straight to the broker, over one connection."""
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(stack.mqtt_port), "-u",
                    broker.CONTROLLER_USERNAME, "-P", controller_password(stack), "-t", topic,
                    "-q", str(qos), "-l"], input="".join(f"{line}\n" for line in lines), text=True,
                   check=True, timeout=10)
