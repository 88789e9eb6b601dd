"""The system clock's NTP status is asked once, then renewed in the background, never on the loop's time."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from receiver_agent.timekeeper import SystemClockStatus
from tests.testkit import wait_for

pytestmark = pytest.mark.unit


def test_status_is_asked_once_then_renewed_without_waiting() -> None:
    answers = itertools.chain([False], itertools.repeat(True))
    asked = []
    release = threading.Event()

    def ask() -> bool | None:
        asked.append(threading.current_thread().name)
        if len(asked) > 1:
            release.wait(5)  # a slow timedatectl
        return next(answers)

    status = SystemClockStatus(ask)
    status.REFRESH_S = 0.05
    assert status() is False and len(asked) == 1
    for _ in range(200):  # a playout loop asking on every tick
        status()
    assert len(asked) == 1, "fresh answers are not asked again"
    time.sleep(0.1)
    started = time.monotonic()
    assert status() is False, "a stale answer is returned at once while the check runs"
    # at once, not after the slow check (5 s here); a second leaves room for a loaded machine
    assert time.monotonic() - started < 1.0
    release.set()
    wait_for(lambda: status() is True, 2.0, what="the renewed answer")
    assert asked[1] == "ntp-status"
