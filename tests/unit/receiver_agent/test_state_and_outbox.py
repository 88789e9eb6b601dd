"""What the agent keeps on disk survives a restart, and events stay until acknowledged."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from loalang_protocol.envelope import open_device_message
from loalang_protocol.keys import KeyPair
from loalang_protocol.messages import DeviceEvent
from receiver_agent.outbox import Outbox
from receiver_agent.state import AgentState
from receiver_agent.storage import WRITER

pytestmark = pytest.mark.unit


def test_state_round_trip_and_boot_counter(tmp_path: Path) -> None:
    state = AgentState.load(tmp_path / "state.json")
    install = state.install_id
    assert state.next_boot() == 1
    state.held_areas["thon-a"] = 4
    state.save()
    WRITER.flush()  # saves go through the background writer
    again = AgentState.load(tmp_path / "state.json")
    assert again.install_id == install and again.boot == 1 and again.held_areas == {"thon-a": 4}
    assert again.next_boot() == 2
    assert (tmp_path / "state.json").stat().st_mode & 0o777 == 0o600


def test_damaged_state_file_starts_fresh(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_bytes(b"\x00garbage")
    state = AgentState.load(tmp_path / "state.json")
    assert state.boot == 0 and state.install_id.startswith("i-")


def test_events_are_signed_numbered_and_kept_until_acknowledged(tmp_path: Path) -> None:
    key = KeyPair.generate()
    state = AgentState.load(tmp_path / "state.json")
    state.next_boot()  # as the agent does first: the install id is on disk before any event
    outbox = Outbox(tmp_path / "outbox", "loa-1", key, state)
    seqs = [outbox.record("played", {"item": n}) for n in range(3)]
    assert seqs == [1, 2, 3]
    sent: list[bytes] = []

    async def publish(topic: str, payload: bytes) -> None:
        sent.append(payload)

    assert asyncio.run(outbox.flush(publish)) == 3
    bodies = [DeviceEvent.model_validate(
        open_device_message(outbox.topic, p, lambda kid: key.private.public_key()).body) for p in sent]
    assert [b.seq for b in bodies] == [1, 2, 3] and bodies[0].install_id == state.install_id
    outbox.acknowledge(state.install_id, [1, 3])
    assert len(outbox.pending()) == 1
    outbox.acknowledge("i-someone-else", [2])
    assert len(outbox.pending()) == 1
    restarted = Outbox(tmp_path / "outbox", "loa-1", key, AgentState.load(tmp_path / "state.json"))
    assert restarted.record("played", {}) == 4, "numbering continues after a restart"


def test_only_events_unacknowledged_for_long_are_sent_again_while_connected(tmp_path: Path) -> None:
    state = AgentState.load(tmp_path / "state.json")
    state.next_boot()
    outbox = Outbox(tmp_path / "outbox", "loa-1", KeyPair.generate(), state)
    old, new = outbox.record("completed", {"n": 1}), outbox.record("completed", {"n": 2})
    long_ago = time.time() - 600
    os.utime(outbox._path(old), (long_ago, long_ago))
    sent: list[bytes] = []

    async def publish(topic: str, payload: bytes) -> None:
        sent.append(payload)

    assert asyncio.run(outbox.flush(publish, older_than_s=60)) == 1
    assert b'"seq":%d' % old in sent[0] and len(outbox.pending()) == 2, "sent again, kept until acknowledged"
    assert new != old


def test_a_backlog_goes_in_parts_oldest_first(tmp_path: Path) -> None:
    state = AgentState.load(tmp_path / "state.json")
    state.next_boot()
    outbox = Outbox(tmp_path / "outbox", "loa-1", KeyPair.generate(), state)
    for n in range(5):
        outbox.record("completed", {"n": n})
    sent: list[bytes] = []

    async def publish(topic: str, payload: bytes) -> None:
        sent.append(payload)

    assert asyncio.run(outbox.flush(publish, at_most=2)) == 2
    assert b'"seq":1' in sent[0] and b'"seq":2' in sent[1]


def test_newest_signed_time_is_kept_raised_and_capped_by_a_known_time(tmp_path: Path) -> None:
    state = AgentState.load(tmp_path / "state.json")
    state.note_signed(5_000, None)
    state.note_signed(4_000, None)
    assert state.newest_signed_ms == 5_000, "an older message does not lower the mark"
    state.note_signed(10**15, None)
    assert state.newest_signed_ms == 10**15, "while the time is unknown, a signed issue time raises it"
    state.note_signed(6_000, 7_000)
    assert state.newest_signed_ms == 7_000, "once the time is known, a mark ahead of it comes down"
    state.save()
    WRITER.flush()
    assert AgentState.load(tmp_path / "state.json").newest_signed_ms == 7_000


def test_a_bad_newest_signed_time_on_disk_reads_as_none(tmp_path: Path) -> None:
    for bad in ('"soon"', "-5", "true", "1.5"):
        (tmp_path / "state.json").write_text(f'{{"install_id": "i-1", "newest_signed_ms": {bad}}}')
        assert AgentState.load(tmp_path / "state.json").newest_signed_ms == 0
