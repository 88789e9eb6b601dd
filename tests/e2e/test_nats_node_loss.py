"""A node of the NATS cluster lost under a fleet with a broadcast scheduled: every receiver plays it on
time, the ones that were on the lost node come back on another, and a receiver that connects only
after the loss still gets the retained desired state written before it.

Each test runs its own cluster, Redis and controller (tests/testkit.py nats_system); the receivers are
given every node's address at enrolment and connect to one at random.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loalang_stack.nats import NatsCluster, NatsNode
from loalang_stack.process import Server
from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.testkit import (
    Fleet,
    Stack,
    nats_system,
    ping,
    receipts,
    schedule,
    tone_onset,
    upload_media,
    wait_for,
)
from tests.testkit import write_steps_wav as write_tone

pytestmark = pytest.mark.e2e

TONE_HZ = 700.0
ONLINE_AT_START = 4  # receivers online when the node is lost; one more connects only afterwards
LEAD_S = 45.0  # from scheduling to the instant: the late receiver connects (a frozen node holds a
# connection attempt 10 s, and the streams lose their leaders for 5-9 s), downloads and waits


ClusterFleet = tuple[NatsCluster, ControllerProcess, Fleet]


@pytest.fixture
def cluster_fleet(tmp_path: Path) -> Iterator[ClusterFleet]:
    with nats_system(tmp_path / "stack", device_addresses=True) as (stack, controller):
        fleet = Fleet(controller, tmp_path / "fleet")
        fleet.ensure_areas()
        try:
            yield cluster_of(stack), controller, fleet
        finally:
            fleet.close()


def cluster_of(stack: Stack) -> NatsCluster:
    assert stack.nats is not None
    return stack.nats


def lose_node_under_a_broadcast(cluster: NatsCluster, controller: ControllerProcess, fleet: Fleet,
                                tmp_path: Path, lose: str) -> None:
    """Schedule a tone to the commune, lose the busiest node other than the controller's (SIGKILL, or
    SIGSTOP until the end), start one more receiver, and check what every receiver did."""
    agents = [fleet.enrolled_agent(area="thon-a") for _ in range(ONLINE_AT_START + 1)]
    late_id, late_config = agents.pop()
    servers = [fleet.start(config) for _, config in agents]
    for device_id, _ in agents:
        wait_for(lambda d=device_id: fleet.online(d), 20.0, what=f"{device_id} online")
    controller_port = int(connections(controller.data_dir / "controller.log")[-1].rsplit(":", 1)[1])
    candidates = [node for node in cluster.nodes if node.mqtt_port != controller_port]
    restart_until_one_is_on(candidates, servers[-1], fleet, agents[-1])
    sha, size = upload_media(fleet, write_tone(tmp_path / "tone.wav", [TONE_HZ], step_s=2.0))
    start_ms = int((time.time() + LEAD_S) * 1000)
    occurrence = schedule(fleet, area_id="xa-mot", level="normal", start_ms=start_ms, duration_ms=2000,
                          source={"type": "media", "sha256": sha, "size": size})
    for device_id, _ in agents:
        wait_for(lambda d=device_id: downloaded(fleet, d, sha), 15.0, what=f"{device_id} downloaded")

    victim = max(candidates, key=lambda node: len(node.connected_devices()))
    moved = victim.connected_devices()
    assert moved, "no receiver on either node the test may lose"
    assert victim.server is not None
    seen = {device_id: len(connections(config.parent / "agent.log")) for device_id, config in agents}
    if lose == "kill":
        cluster.kill(victim)
    else:
        victim.server.signal(signal.SIGSTOP)
    try:
        lost_at = time.monotonic()
        fleet.start(late_config)
        configs = dict(agents)
        for device_id in moved:  # back on another node, while the broadcast is still to come
            wait_for(lambda d=device_id: connected_elsewhere(configs[d], victim, seen[d]), 30.0,
                     interval=0.5, what=f"{device_id} back on another node")
            # Its birth waits for its subscriptions, and with a node frozen the command subscriptions'
            # consumers fail after the gateway's 4 s JetStream timeout each until the leaders move.
            wait_for(lambda d=device_id: fleet.online(d), 30.0, interval=0.5,
                     what=f"{device_id} online again")
        back_after_s = time.monotonic() - lost_at
        wait_for(lambda: time.time() * 1000 > start_ms + 3000, LEAD_S + 10, interval=0.5, what="the item")
        for device_id, config in [*agents, (late_id, late_config)]:
            card = config_file.load(config).data_dir / "card"
            onset = tone_onset(card, TONE_HZ)
            assert onset is not None, f"{device_id} did not play"
            late_s = onset - start_ms / 1000
            assert abs(late_s) < 0.25, f"{device_id} played {late_s:+.3f} s off the instant"
        for device_id, _ in [*agents, (late_id, late_config)]:
            wait_for(lambda d=device_id: started(fleet, d, occurrence), 20.0, what=f"{device_id} receipt")
        assert back_after_s < LEAD_S
    finally:
        if lose == "freeze":
            victim.server.signal(signal.SIGCONT)


def restart_until_one_is_on(nodes: list[NatsNode], server: Server, fleet: Fleet,
                            agent: tuple[str, Path]) -> None:
    """Each receiver picks its node at random, so all of them may be on the controller's (one time in
    81): restart one until some receiver is on a node the test may lose."""
    device_id, config = agent
    for _ in range(20):
        if any(node.connected_devices() for node in nodes):
            return
        before = len(connections(config.parent / "agent.log"))
        server.stop()
        server.start()
        wait_for(lambda n=before: len(connections(config.parent / "agent.log")) > n, 20.0,
                 what=f"{device_id} connected again")
        wait_for(lambda: fleet.online(device_id), 20.0, what=f"{device_id} online again")
    raise AssertionError("twenty restarts all picked the controller's node")


def connections(log_file: Path) -> list[str]:
    """The broker addresses an agent or a controller connected to, in order, from its log."""
    return [line.rsplit(" ", 1)[1] for line in log_file.read_text().splitlines() if ": connected to " in line]


def connected_elsewhere(config: Path, node: NatsNode, before: int) -> bool:
    """Whether the agent connected to a node other than node since its first `before` connections."""
    moved_to = connections(config.parent / "agent.log")[before:]
    return any(not address.endswith(f":{node.mqtt_port}") for address in moved_to)


def downloaded(fleet: Fleet, device_id: str, sha: str) -> bool:
    return any(r["data"].get("sha256") == sha for r in receipts(fleet, device_id, "downloaded"))


def started(fleet: Fleet, device_id: str, occurrence: str) -> bool:
    return any(r["data"].get("occurrence") == occurrence for r in receipts(fleet, device_id, "started"))


def test_a_killed_node_under_a_scheduled_broadcast(cluster_fleet: ClusterFleet, tmp_path: Path) -> None:
    lose_node_under_a_broadcast(*cluster_fleet, tmp_path, lose="kill")


def test_a_frozen_node_under_a_scheduled_broadcast(cluster_fleet: ClusterFleet, tmp_path: Path) -> None:
    lose_node_under_a_broadcast(*cluster_fleet, tmp_path, lose="freeze")


def test_the_controller_moves_to_another_node_when_its_own_is_killed(cluster_fleet: ClusterFleet) -> None:
    cluster, controller, fleet = cluster_fleet
    device_id, config = fleet.enrolled_agent(area="thon-a")
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 20.0, what="online")
    log_file = controller.data_dir / "controller.log"
    before = connections(log_file)
    agent_before = connections(config.parent / "agent.log")
    own = next(node for node in cluster.nodes if before[-1].endswith(f":{node.mqtt_port}"))
    cluster.kill(own)
    # Until JetStream's leaders are elected again a node answers no CONNECT (10 s each attempt): on a
    # loaded machine that took over 30 s in full runs.
    moved = wait_for(lambda: connections(log_file)[len(before):], 60.0, what="the controller connected again")
    assert not moved[-1].endswith(f":{own.mqtt_port}")
    if agent_before[-1].endswith(f":{own.mqtt_port}"):
        # The receiver was on the same node: it moves too, after its own failed attempts and backoff
        # (a window doubling from 5 s with each failure; seen: 51 s from the kill in a full run).
        wait_for(lambda: connected_elsewhere(config, own, len(agent_before)), 120.0,
                 what="the receiver connected again")
    # A command goes out through the controller's new node and the reply comes back.
    reply = wait_for(lambda: ping_reply(fleet, device_id), 30.0, interval=1.0, what="a ping answered")
    assert reply["ok"] is True


def ping_reply(fleet: Fleet, device_id: str) -> dict[str, object] | None:
    """Send a ping and wait a few seconds for its reply; None if none came."""
    try:
        return ping(fleet, device_id, timeout=5.0)
    except (AssertionError, httpx.HTTPStatusError):  # no reply yet, or the controller not connected yet
        return None
