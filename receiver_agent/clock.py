"""The controller's time, estimated over MQTT with signed replies tied to a nonce.

Each exchange gives an offset ((t1 - t0) + (t2 - t3)) / 2 and a round trip
(t3 - t0) - (t2 - t1). The estimate follows the sample with the lowest round trip among
the recent ones, since queueing only ever adds delay.

The exchange cannot feed a storm: every request left unanswered doubles the wait before the
next (with jitter, up to a cap), and a reply that comes late, however late within
PENDING_WINDOW_US, is still used (its long round trip weighs it down). A controller that
falls behind therefore sees fewer requests, not more, and the agents settle as it catches up.
"""

from __future__ import annotations

import math
import os
import random
import secrets
import time
from collections import deque
from dataclasses import dataclass

from loalang_protocol.messages import ClockReply, ClockRequest

MAX_PENDING = 64
PENDING_WINDOW_US = 120_000_000  # a reply this late still counts
MAX_BACKOFF_DOUBLINGS = 16
KEEP_SAMPLES = 16
FIRST_SAMPLES = 4
FAST_RTT_US = 50_000
FIRST_INTERVAL_S = 0.5  # requests this often until the time is known and WARMUP_SAMPLES are in
WARMUP_SAMPLES = 8


# For tests and demonstrations only: pretend the system clock is off by this many seconds.
SIMULATED_ERROR_US = int(float(os.environ.get("LOALANG_SIMULATED_CLOCK_ERROR_S", "0") or 0) * 1e6)


def now_us() -> int:
    """Wall-clock time in microseconds (plus the simulated error, normally zero)."""
    return time.time_ns() // 1000 + SIMULATED_ERROR_US


@dataclass(frozen=True)
class ClockSample:
    """One exchange."""

    offset_us: int
    rtt_us: int


class ClockSync:
    """Sends requests and turns verified replies into an offset estimate."""

    def __init__(self) -> None:
        self._pending: dict[str, int] = {}
        self.samples: deque[ClockSample] = deque(maxlen=KEEP_SAMPLES)
        self.unanswered = 0  # requests sent since the last reply

    def request(self) -> ClockRequest:
        """A new request with a fresh nonce."""
        nonce = secrets.token_urlsafe(12)
        t0 = now_us()
        self._pending[nonce] = t0
        while self._pending and (len(self._pending) > MAX_PENDING
                                 or t0 - next(iter(self._pending.values())) > PENDING_WINDOW_US):
            self._pending.pop(next(iter(self._pending)))
        self.unanswered = min(self.unanswered + 1, MAX_BACKOFF_DOUBLINGS + 1)
        return ClockRequest(nonce=nonce, t0_us=t0)

    def wait_s(self, interval_s: float, cap_s: float) -> float:
        """How long to wait before the next request: interval_s while replies come, doubled for each
        request beyond the one just sent that went unanswered, up to cap_s, with jitter (so a fleet
        that lost its controller together does not ask together)."""
        doublings = max(0, self.unanswered - 1)
        if doublings == 0:
            return interval_s
        return random.uniform(0.5, 1.0) * min(cap_s, math.ldexp(interval_s, doublings))

    def forget_unanswered(self) -> None:
        """Start the backoff over (the requests went unanswered because no controller listened)."""
        self.unanswered = 0

    def answer(self, reply: ClockReply) -> ClockSample | None:
        """Use a verified reply if it answers one of our requests; None otherwise."""
        t3 = now_us()
        t0 = self._pending.pop(reply.nonce, None)
        if t0 is None or t0 != reply.t0_us:
            return None
        sample = ClockSample(
            offset_us=((reply.t1_us - t0) + (reply.t2_us - t3)) // 2,
            rtt_us=(t3 - t0) - (reply.t2_us - reply.t1_us),
        )
        self.samples.append(sample)
        self.unanswered = 0
        return sample

    def trustworthy(self) -> bool:
        """Whether the best sample can start the estimate: a round trip under FAST_RTT_US, or the best of
        FIRST_SAMPLES (a first reply read late, behind a burst of messages after a reconnect, is off by
        half its delay)."""
        if not self.samples:
            return False
        return len(self.samples) >= FIRST_SAMPLES or min(s.rtt_us for s in self.samples) < FAST_RTT_US

    def offset_us(self) -> int | None:
        """Controller time minus our time, from the best recent sample; None before any."""
        if not self.samples:
            return None
        return min(self.samples, key=lambda s: s.rtt_us).offset_us
