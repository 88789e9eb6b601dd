"""The clock exchange uses only replies to its own nonces and trusts the fastest round trip."""

from __future__ import annotations

import pytest

from loalang_protocol.messages import ClockReply
from receiver_agent import clock
from receiver_agent.clock import ClockSync

pytestmark = pytest.mark.unit


def test_offset_from_the_lowest_round_trip(monkeypatch) -> None:
    sync = ClockSync()
    now = [1_000_000]
    monkeypatch.setattr(clock, "now_us", lambda: now[0])
    # controller is 500 ms ahead; first exchange has 200 ms of queueing on the way back
    request = sync.request()
    now[0] += 300_000
    sync.answer(ClockReply(nonce=request.nonce, t0_us=request.t0_us, t1_us=request.t0_us + 550_000,
                           t2_us=request.t0_us + 550_000))
    request = sync.request()
    now[0] += 100_000
    sync.answer(ClockReply(nonce=request.nonce, t0_us=request.t0_us, t1_us=request.t0_us + 550_000,
                           t2_us=request.t0_us + 550_000))
    assert abs((sync.offset_us() or 0) - 500_000) < 1_000


def test_unknown_or_reused_nonce_is_ignored() -> None:
    sync = ClockSync()
    request = sync.request()
    forged = ClockReply(nonce="not-our-nonce-1", t0_us=request.t0_us, t1_us=0, t2_us=0)
    assert sync.answer(forged) is None
    reply = ClockReply(nonce=request.nonce, t0_us=request.t0_us, t1_us=request.t0_us, t2_us=request.t0_us)
    assert sync.answer(reply) is not None
    assert sync.answer(reply) is None, "a nonce answers once"


def test_a_first_estimate_waits_for_a_fast_round_trip_or_several_samples(monkeypatch) -> None:
    sync = ClockSync()
    now = [1_000_000]
    monkeypatch.setattr(clock, "now_us", lambda: now[0])

    def exchange(delay_us: int) -> None:
        request = sync.request()
        now[0] += delay_us
        sync.answer(ClockReply(nonce=request.nonce, t0_us=request.t0_us, t1_us=request.t0_us + 1_000,
                               t2_us=request.t0_us + 1_000))

    exchange(900_000)  # a reply read late, behind a burst of messages after a reconnect
    assert not sync.trustworthy()
    exchange(20_000)
    assert sync.trustworthy(), "a fast round trip is enough"
    slow = ClockSync()
    monkeypatch.setattr(clock, "now_us", lambda: now[0])
    for _ in range(clock.FIRST_SAMPLES):
        request = slow.request()
        now[0] += 300_000
        slow.answer(ClockReply(nonce=request.nonce, t0_us=request.t0_us, t1_us=request.t0_us,
                               t2_us=request.t0_us))
    assert slow.trustworthy(), "or the best of a few"


def test_unanswered_requests_slow_the_asking_and_a_reply_restores_it() -> None:
    sync = ClockSync()
    sync.request()
    assert sync.wait_s(0.5, 60.0) == 0.5, "the request just sent is not yet unanswered"
    waits = []
    for _ in range(12):
        sync.request()
        waits.append(sync.wait_s(0.5, 60.0))
    assert 0.5 <= waits[0] <= 1.0 and 30.0 <= waits[-1] <= 60.0, waits
    assert sum(waits) > 200, "twelve unanswered requests spread over minutes, not six seconds"
    request = sync.request()
    t0 = request.t0_us
    sync.answer(ClockReply(nonce=request.nonce, t0_us=t0, t1_us=t0, t2_us=t0))
    assert sync.wait_s(0.5, 60.0) == 0.5


def test_forgetting_the_unanswered_starts_the_backoff_over() -> None:
    """A controller that comes back online was not there to answer: its return starts the waits over."""
    sync = ClockSync()
    for _ in range(10):
        sync.request()
    assert sync.wait_s(0.5, 60.0) >= 30.0
    sync.forget_unanswered()
    sync.request()
    assert sync.wait_s(0.5, 60.0) == 0.5


def test_a_late_reply_is_still_used(monkeypatch) -> None:
    sync = ClockSync()
    now = [1_000_000]
    monkeypatch.setattr(clock, "now_us", lambda: now[0])
    first = sync.request()
    for _ in range(20):  # many requests later, a minute on, the first one is answered
        now[0] += 3_000_000
        sync.request()
    reply = ClockReply(nonce=first.nonce, t0_us=first.t0_us, t1_us=first.t0_us + 200, t2_us=first.t0_us + 200)
    sample = sync.answer(reply)
    assert sample is not None and sample.rtt_us > 59_000_000
    assert sync.unanswered == 0
