"""A three-node NATS cluster as the MQTT broker: retained messages outlive a node, users keep to their topics.

The clusters here are the module's own (Debian's nats-server, from scripts/install-system-packages.sh);
the session's Mosquitto and controller are not used.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from loalang_stack.broker import CONTROLLER_USERNAME
from loalang_stack.nats import NatsCluster, NatsNode, NatsUser
from loalang_stack.stack import LocalStack
from tests.testkit import wait_for

pytestmark = pytest.mark.e2e

TESTER = NatsUser("tester", "a-password-for-the-test-topics", publish=("loa/v1/test/#",),
                  subscribe=("loa/v1/test/#",))
RETAINED_STREAM = "$MQTT_rmsgs"


class Client:
    """A paho MQTT 3.1.1 client on one node; it keeps what it receives. It waits up to timeout for the
    node's CONNACK (paho connects again when the node closes the connection without one, as a node
    does while JetStream has no leader for the sessions' stream), and raises when the node refuses."""

    def __init__(self, node: NatsNode, username: str, password: str, client_id: str,
                 timeout: float = 10.0) -> None:
        self.messages: list[paho.MQTTMessage] = []
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.cut = threading.Event()  # the node closed the connection after accepting it
        self._acks: dict[int, threading.Event] = {}
        self._granted: dict[int, list[Any]] = {}
        self.refusal: str | None = None
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=MQTTProtocolVersion.MQTTv311)
        self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = lambda *_: self.cut.set()
        self.client.connect(node.address, node.mqtt_port)
        self.client.loop_start()
        if not self._connected.wait(timeout) or self.refusal is not None:
            self.close()
            raise ConnectionRefusedError(f"{node.name} refused {username}: {self.refusal or 'no CONNACK'}")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.refusal = str(reason) if reason.is_failure else None
        self._connected.set()

    def _on_message(self, client: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(message)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: list[Any],
                      properties: Any) -> None:
        self._granted[mid] = reasons
        self._acks.setdefault(mid, threading.Event()).set()

    def subscribe(self, topic: str, qos: int = 1, timeout: float = 10.0) -> bool:
        """Subscribe and wait for the SUBACK; whether the broker granted it."""
        _, mid = self.client.subscribe(topic, qos=qos)
        if not self._acks.setdefault(mid, threading.Event()).wait(timeout):
            raise AssertionError(f"no SUBACK for {topic} within {timeout} s")
        return not self._granted[mid][0].is_failure

    def publish(self, topic: str, payload: str, retain: bool = False, timeout: float = 10.0) -> None:
        """Publish at QoS 1 and wait for the PUBACK."""
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(timeout)

    def received(self, topic: str) -> list[tuple[str, bool]]:
        """The payloads that reached topic so far, each with its retained flag."""
        with self._lock:
            return [(message.payload.decode(), message.retain) for message in self.messages
                    if message.topic == topic]

    def close(self) -> None:
        """Disconnect."""
        self.client.on_disconnect = None
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """A cluster the module's tests share; they do not stop its nodes."""
    with LocalStack(tmp_path_factory.mktemp("nats")) as stack:
        yield stack.start_nats_cluster([TESTER])


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """A cluster of the test's own, for a test that kills a node."""
    with LocalStack(tmp_path) as stack:
        yield stack.start_nats_cluster([TESTER])


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    opened: list[Client] = []
    yield opened
    for client in opened:
        client.close()


def connect(clients: list[Client], node: NatsNode, user: NatsUser, client_id: str,
            timeout: float = 10.0) -> Client:
    """A client of user on node, closed at the end of the test."""
    client = Client(node, user.name, user.password, client_id, timeout)
    clients.append(client)
    return client


def controller_user(cluster: NatsCluster) -> NatsUser:
    return NatsUser(CONTROLLER_USERNAME, cluster.controller_password)


def connect_once_allowed(clients: list[Client], node: NatsNode, user: NatsUser, client_id: str,
                         timeout: float) -> Client:
    """Connect again and again while the node refuses user, until timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return connect(clients, node, user, client_id)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_retained_message_outlives_the_node_it_was_published_on(own_cluster: NatsCluster,
                                                                clients: list[Client]) -> None:
    cluster = own_cluster
    first = cluster.nodes[0]
    reader = connect(clients, first, TESTER, "reader")  # the first MQTT client creates the streams
    leader = wait_for(lambda: cluster.stream_leader(RETAINED_STREAM), 10.0, what="a retained stream leader")
    # Published on the node that leads the retained messages' stream, read on another one.
    if leader is first:
        reader = connect(clients, cluster.nodes[1], TESTER, "reader-2")
    assert reader.subscribe("loa/v1/test/#")
    publisher = connect(clients, leader, TESTER, "publisher")
    publisher.publish("loa/v1/test/desired", "version-7", retain=True)
    wait_for(lambda: reader.received("loa/v1/test/desired"), 5.0, what="the message on another node")

    cluster.kill(leader)

    # Every MQTT CONNECT reads and writes the account's streams: it waits for new leaders to be
    # elected where the killed node led (Raft's election timeout is several seconds).
    wait_for(cluster.leaders_running, 20.0, what="JetStream leaders on the surviving nodes")
    survivor = next(node for node in cluster.nodes if node.running)
    late = connect(clients, survivor, TESTER, "late-reader", timeout=10.0)
    # At QoS 0: a QoS 1 subscription is a JetStream consumer of its own, whose creation may still time
    # out this soon after the loss (docs/nats.md); retained messages come from the node either way.
    assert late.subscribe("loa/v1/test/#", qos=0)
    wait_for(lambda: late.received("loa/v1/test/desired"), 10.0, what="the retained message after the kill")
    assert late.received("loa/v1/test/desired") == [("version-7", True)]


def test_a_user_is_kept_to_its_topics(cluster: NatsCluster, clients: list[Client]) -> None:
    watcher = connect(clients, cluster.nodes[1], controller_user(cluster), "watcher")
    assert watcher.subscribe("loa/#")
    tester = connect(clients, cluster.nodes[0], TESTER, "tester")
    assert not tester.subscribe("loa/v1/dev/#")
    assert not tester.subscribe("#")
    tester.publish("loa/v1/dev/other/cmd", "forged")  # acknowledged, and dropped
    tester.publish("loa/v1/test/marker", "own-topic")
    # each publish was acknowledged before the next began: a leaked one would arrive before the marker
    wait_for(lambda: watcher.received("loa/v1/test/marker"), 5.0, what="the allowed publish")
    assert watcher.received("loa/v1/dev/other/cmd") == []
    with pytest.raises(ConnectionRefusedError, match="Not authorized"):
        connect(clients, cluster.nodes[2], NatsUser(TESTER.name, "a-wrong-password"), "guesser")


def test_users_change_on_a_reload(cluster: NatsCluster, clients: list[Client]) -> None:
    newcomer = NatsUser("newcomer", "the-newcomer's-password", publish=("loa/v1/test/newcomer",))
    with pytest.raises(ConnectionRefusedError, match="Not authorized"):
        connect(clients, cluster.nodes[0], newcomer, "newcomer")
    cluster.add_users(newcomer)
    sessions = [connect_once_allowed(clients, node, newcomer, f"newcomer-{node.name}", timeout=5.0)
                for node in cluster.nodes]

    cluster.add_users(NatsUser(newcomer.name, "a-new-password", publish=newcomer.publish))

    for session in sessions:
        assert session.cut.wait(2.0), "a connection with the replaced password was not cut"
    with pytest.raises(ConnectionRefusedError, match="Not authorized"):
        connect(clients, cluster.nodes[1], newcomer, "newcomer-again")
