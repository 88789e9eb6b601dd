"""An agent killed again and again while playing loses no receipt and never leaves the amplifier on."""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from receiver_agent import config as config_file
from tests.testkit import Fleet, receipts, schedule, wait_for

pytestmark = pytest.mark.e2e

KILLS = 20


def _relay_log(config: Path) -> list[tuple[float, str]]:
    path = config_file.load(config).data_dir / "amplifier.log"
    return [(float(t), state) for t, state in (line.split() for line in path.read_text().splitlines())]


def _switched_on_after(config: Path, since: float) -> bool:
    return any(when > since and state == "on" for when, state in _relay_log(config))


def test_twenty_sigkills_while_playing(fleet: Fleet) -> None:
    rng = random.Random(7)
    device_id, config = fleet.enrolled_agent(area="thon-b")
    agent = fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 5.0, what="online")
    occurrence = schedule(fleet, area_id="thon-b", level="normal", start_ms=int(time.time() * 1000) + 2000,
                          duration_ms=120_000, max_lateness_ms=600_000,
                          source={"type": "tone", "frequency_hz": 440})
    wait_for(lambda: receipts(fleet, device_id, "started"), 10.0, what="playing")
    restarts: list[float] = []
    for kill in range(KILLS):
        since = restarts[-1] if restarts else 0.0
        wait_for(lambda since=since: _switched_on_after(config, since), 15.0, interval=0.05,
                 what="the amplifier on again")
        wait_for(lambda kill=kill: len(receipts(fleet, device_id, "started")) > kill, 15.0, interval=0.05,
                 what="playing again")  # its started receipt is on disk and at the controller
        time.sleep(rng.uniform(0.0, 1.5))  # then killed at a random moment of the audio
        agent.signal(signal.SIGKILL)
        assert agent.process is not None
        agent.process.wait(5)
        restarts.append(time.time())
        agent = fleet.start(config)
    # the last start too: playing again (so its relay log has its "off", then "on") before the count
    wait_for(lambda: _switched_on_after(config, restarts[-1]), 15.0, interval=0.05,
             what="the amplifier on again")
    wait_for(lambda: fleet.online(device_id) and not list((config.parent / "outbox").glob("*.json")), 30.0,
             what="every receipt acknowledged")
    install_id = json.loads((config.parent / "state.json").read_text())["install_id"]
    events = [e for e in receipts(fleet, device_id) if e["install_id"] == install_id]
    counts = Counter(e["seq"] for e in events)
    assert max(counts.values()) == 1, "stored exactly once"
    assert sorted(counts) == list(range(1, len(counts) + 1)), "no sequence number missing"
    assert len([e for e in events if e["type"] == "started"]) >= KILLS, "it was playing at every kill"
    relay = _relay_log(config)
    for restarted in restarts:
        first = next(state for when, state in relay if when >= restarted)
        assert first == "off", "after a restart the amplifier is off until audio starts"
    started = [e for e in events if e["type"] in ("started", "resumed")]
    assert {e["data"]["occurrence"] for e in started} == {occurrence}, "only the scheduled tone played"
