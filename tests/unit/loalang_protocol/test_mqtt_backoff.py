"""The link's reconnect backoff over a day-long outage."""

from __future__ import annotations

import pytest

from loalang_protocol.mqtt import Backoff

pytestmark = pytest.mark.unit


def test_the_backoff_stays_at_its_cap_for_ever() -> None:
    backoff = Backoff(window=5.0, cap=60.0)
    delays = [backoff.next_delay() for _ in range(100_000)]  # weeks of failures at the cap
    assert max(delays) <= 60.0
    assert max(delays) > 50.0, "the window never reached its cap"
    assert backoff.attempt <= 5, "the count of attempts grows without bound"


def test_the_window_starts_small_again_after_a_success() -> None:
    backoff = Backoff(window=5.0, cap=60.0)
    for _ in range(50):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 5.0
