"""The power amplifier's relay: a driver interface, GPIO and a simulated pin kept in a file.

Fail-safe: the relay is switched off when the agent starts, by the watchdog when the agent's
event loop stops answering, and by the service manager's stop command when the agent dies
(`receiver-agent amplifier-off`, used as ExecStopPost in the systemd unit).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from pathlib import Path
from typing import Protocol

from loalang_protocol.files import write_atomic

log = logging.getLogger(__name__)


class RelayDriver(Protocol):
    """Switches the amplifier."""

    def set(self, on: bool) -> None:
        """Drive the relay."""

    def get(self) -> bool:
        """The relay's state."""


class FileRelay:
    """A simulated relay whose state lives in a file ("1" or "0"), like a sysfs GPIO value."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._on: bool | None = None  # as last written here; read from the file until then

    def set(self, on: bool) -> None:
        """Write the state, with the time of the change in a log beside it."""
        self.path.write_text("1\n" if on else "0\n")
        self._on = on
        with self.path.with_suffix(".log").open("a") as history:
            history.write(f"{time.time():.6f} {'on' if on else 'off'}\n")

    def get(self) -> bool:
        """The state: as last set, else as the file says (a simulator's watchdog asks thousands)."""
        if self._on is not None:
            return self._on
        try:
            return self.path.read_text().strip() == "1"
        except FileNotFoundError:
            return False


class GpioRelay:
    """A relay on a GPIO pin through gpiozero (on the board only)."""

    def __init__(self, pin: int, active_high: bool = True) -> None:
        from gpiozero import OutputDevice  # imported on the board only

        self._device = OutputDevice(pin, active_high=active_high, initial_value=False)

    def set(self, on: bool) -> None:
        """Drive the pin."""
        if on:
            self._device.on()
        else:
            self._device.off()

    def get(self) -> bool:
        """The pin's state."""
        return bool(self._device.value)


class RecordedRelay:
    """A relay whose every change is also noted in a file, for readers in other processes."""

    def __init__(self, driver: RelayDriver, path: Path) -> None:
        self.driver = driver
        self.path = path

    def set(self, on: bool) -> None:
        """Drive the relay, then note it."""
        self.driver.set(on)
        write_atomic(self.path, b"1\n" if on else b"0\n", mode=0o644, durable=False)

    def get(self) -> bool:
        """The relay's own state."""
        return self.driver.get()


class Amplifier:
    """Switches on a lead time before audio and off after a hold time; off by a watchdog on a hang."""

    def __init__(self, driver: RelayDriver, lead_s: float = 0.5, hold_s: float = 5.0,
                 watchdog_s: float = 10.0) -> None:
        self.driver = driver
        self.lead_s = lead_s
        self.hold_s = hold_s
        self.watchdog_s = watchdog_s
        self._heartbeat = time.monotonic()
        self._off_after: float | None = None
        self._lock = threading.Lock()
        self.driver.set(False)  # fail-safe: off when the agent starts
        _Watchdog.register(self)

    @property
    def on(self) -> bool:
        """The relay's state."""
        return self.driver.get()

    def switch_on(self) -> None:
        """On now (audio follows after the lead time)."""
        with self._lock:
            self._off_after = None
            if not self.driver.get():
                self.driver.set(True)
                log.info("amplifier on")

    def release(self) -> None:
        """Audio ended: off after the hold time unless audio starts again."""
        with self._lock:
            self._off_after = time.monotonic() + self.hold_s

    def force_off(self) -> None:
        """Off now."""
        with self._lock:
            self._off_after = None
            if self.driver.get():
                self.driver.set(False)
                log.info("amplifier off")

    def heartbeat(self) -> None:
        """The event loop is alive."""
        self._heartbeat = time.monotonic()

    def check(self, now: float) -> None:
        """Called by the watchdog thread: switch off after the hold time, or when the loop hung."""
        with self._lock:
            due = self._off_after is not None and now >= self._off_after
            hung = now - self._heartbeat > self.watchdog_s
            if (due or hung) and self.driver.get():
                self.driver.set(False)
                log.log(logging.WARNING if hung else logging.INFO, "amplifier off: %s",
                        "the agent stopped answering" if hung else "hold time over")
            if due:
                self._off_after = None


class _Watchdog:
    """One thread, independent of the event loop, watching every amplifier of this process."""

    _amplifiers: weakref.WeakSet[Amplifier] = weakref.WeakSet()
    _thread: threading.Thread | None = None
    _lock = threading.Lock()

    @classmethod
    def register(cls, amplifier: Amplifier) -> None:
        """Watch amplifier from now on."""
        with cls._lock:
            cls._amplifiers.add(amplifier)
            if cls._thread is None:
                cls._thread = threading.Thread(target=cls._run, name="amplifier-watchdog", daemon=True)
                cls._thread.start()

    @classmethod
    def _run(cls) -> None:
        while True:
            time.sleep(0.2)
            now = time.monotonic()
            for amplifier in list(cls._amplifiers):
                amplifier.check(now)
