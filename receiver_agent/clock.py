"""The controller's time, estimated over MQTT with signed replies tied to a nonce.

Each exchange gives an offset ((t1 - t0) + (t2 - t3)) / 2 and a round trip
(t3 - t0) - (t2 - t1). The estimate follows the sample with the lowest round trip among
the recent ones, since queueing only ever adds delay.
"""

from __future__ import annotations

import os
import secrets
import time
from collections import deque
from dataclasses import dataclass

from loalang_protocol.messages import ClockReply, ClockRequest

MAX_PENDING = 8
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

    def request(self) -> ClockRequest:
        """A new request with a fresh nonce."""
        nonce = secrets.token_urlsafe(12)
        t0 = now_us()
        self._pending[nonce] = t0
        while len(self._pending) > MAX_PENDING:
            self._pending.pop(next(iter(self._pending)))
        return ClockRequest(nonce=nonce, t0_us=t0)

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
