"""The amplifier relay: off at start, on before audio, off after the hold time, off when the agent hangs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from receiver_agent.amplifier import Amplifier, FileRelay
from tests.testkit import wait_for

pytestmark = pytest.mark.unit


def relay_file(tmp_path: Path) -> Path:
    path = tmp_path / "amplifier"
    path.write_text("1\n")  # left on by a crash
    return path


def test_off_at_start_even_when_the_pin_was_left_on(tmp_path: Path) -> None:
    path = relay_file(tmp_path)
    amplifier = Amplifier(FileRelay(path))
    assert path.read_text() == "0\n" and not amplifier.on


def test_off_after_the_hold_time_unless_audio_starts_again(tmp_path: Path) -> None:
    amplifier = Amplifier(FileRelay(relay_file(tmp_path)), hold_s=0.6, watchdog_s=60)
    amplifier.switch_on()
    amplifier.release()
    time.sleep(0.3)
    amplifier.heartbeat()
    amplifier.switch_on()  # new audio inside the hold time: stays on
    time.sleep(0.8)
    assert amplifier.on
    amplifier.release()
    wait_for(lambda: not amplifier.on, 3.0, what="off after the hold time")


def test_the_watchdog_switches_off_when_the_event_loop_stops_answering(tmp_path: Path) -> None:
    amplifier = Amplifier(FileRelay(relay_file(tmp_path)), hold_s=600, watchdog_s=0.5)
    amplifier.heartbeat()
    amplifier.switch_on()
    for _ in range(5):  # a live loop keeps beating: the relay stays on
        time.sleep(0.2)
        amplifier.heartbeat()
    assert amplifier.on
    hung_at = time.monotonic()  # no heartbeat from here on, as if the loop were stuck
    wait_for(lambda: not amplifier.on, 5.0, what="off by the watchdog")
    assert time.monotonic() - hung_at >= 0.5
    history = (tmp_path / "amplifier.log").read_text().split()
    assert history[-1] == "off"
