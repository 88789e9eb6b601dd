"""Honest time: the controller's time, or "unknown" until it can be trusted.

A board whose clock NTP synchronises uses it. Otherwise the signed clock exchange gives an
offset to the controller's clock, kept against the monotonic clock: once known, the time
follows the monotonic clock plus the offset, and a new estimate moves it by at most
MAX_SLEW_MS per sample. After a boot with neither, the time is unknown and nothing scheduled
plays.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .clock import SIMULATED_ERROR_US, ClockSync, now_us

MAX_SLEW_MS = 50


def ask_system_clock() -> bool | None:
    """True/False from systemd's view of NTP, None where it cannot be asked (this may take seconds)."""
    if SIMULATED_ERROR_US:
        return False  # a clock made wrong on purpose is not synchronised
    if Path("/run/systemd/timesync/synchronized").exists():
        return True
    timedatectl = shutil.which("timedatectl")
    if timedatectl is None:
        return None
    try:
        out = subprocess.run([timedatectl, "show", "-p", "NTPSynchronized", "--value"], capture_output=True,
                             text=True, timeout=5).stdout.strip()
    except (subprocess.SubprocessError, OSError):
        return None
    return {"yes": True, "no": False}.get(out)


class SystemClockStatus:
    """Whether NTP synchronises the system clock: answered at once from the last check.

    The first call asks the system; after that a check older than REFRESH_S is renewed in a
    background thread, so the playout loop, which asks on every tick, never waits for
    `timedatectl`. One instance serves every agent of a process (they share the clock).
    """

    REFRESH_S = 30.0

    def __init__(self, ask: Callable[[], bool | None] = ask_system_clock) -> None:
        self._ask = ask
        self._value: bool | None = None
        self._checked: float | None = None
        self._lock = threading.Lock()
        self._refreshing = False

    def __call__(self) -> bool | None:
        """The latest answer (asking now only the very first time)."""
        with self._lock:
            first = self._checked is None
            stale = not first and time.monotonic() - (self._checked or 0) > self.REFRESH_S
            if stale and not self._refreshing:
                self._refreshing = True
                threading.Thread(target=self._refresh, name="ntp-status", daemon=True).start()
        if first:
            self._refresh()
        return self._value

    def _refresh(self) -> None:
        value = self._value
        try:
            value = self._ask()
        finally:
            with self._lock:
                self._value, self._checked, self._refreshing = value, time.monotonic(), False


system_clock_synchronised = SystemClockStatus()


class TimeKeeper:
    """The agent's idea of the controller's time."""

    def __init__(self, clock: ClockSync, ntp_synchronised: Callable[[], bool | None]) -> None:
        self.clock = clock
        self.ntp_synchronised = ntp_synchronised
        self._base: tuple[float, float] | None = None  # (monotonic s, controller ms) at the last estimate
        self._hint: tuple[float, float] | None = None  # (monotonic s, newest signed issue time seen)
        self.known_since_ms: int = 0

    @property
    def known_from_exchange(self) -> bool:
        """Whether the clock exchange has given an estimate yet."""
        return self._base is not None

    @property
    def known(self) -> bool:
        """Whether the time can be trusted."""
        return self._base is not None or bool(self.ntp_synchronised())

    def now_ms(self) -> int:
        """The controller's time now.

        Known: the estimate (or the NTP-synchronised clock). Unknown: the newest issue time of a
        signed message, advanced by the monotonic clock, so that an emergency, which carries its
        own fresh timestamps, still plays; else the local clock, for which nothing scheduled plays.
        """
        return int(self.precise_ms())

    def precise_ms(self) -> float:
        """now_ms to the microsecond (live streams keep receivers in step to well under a millisecond)."""
        base = self._base or (None if self.known else self._hint)
        if base is not None:
            monotonic, controller_ms = base
            return controller_ms + (time.monotonic() - monotonic) * 1000
        return now_us() / 1000

    def note_signed_time(self, issued_ms: int) -> None:
        """Remember a verified message's issue time as a lower bound of the controller's time."""
        if self._hint is None or issued_ms > self._hint[1] + (time.monotonic() - self._hint[0]) * 1000:
            self._hint = (time.monotonic(), float(issued_ms))

    def update(self) -> None:
        """Take the clock exchange's newest estimate, moving at most MAX_SLEW_MS once known."""
        offset_us = self.clock.offset_us()
        if offset_us is None:
            return
        if self._base is None and not self.clock.trustworthy():
            return  # a first estimate waits for a fast round trip or a few samples to choose from
        estimate = now_us() / 1000 + offset_us / 1000
        if self._base is None:
            self._base = (time.monotonic(), estimate)
            self.known_since_ms = int(estimate)
            return
        current = self.now_ms()
        step = max(-MAX_SLEW_MS, min(MAX_SLEW_MS, estimate - current))
        self._base = (time.monotonic(), current + step)
