"""systemd's notification protocol: say the agent is ready, and feed the watchdog while it is well.

The unit (deploy/loalang-agent.service) is `Type=notify` with `WatchdogSec=`: systemd sets
NOTIFY_SOCKET and WATCHDOG_USEC, and restarts the agent when no `WATCHDOG=1` arrives within that
time, which is what a hung event loop looks like from outside. The pings come from the event loop
itself, and only while the playout engine runs. Without systemd (a test, a developer's shell) every
call here does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

log = logging.getLogger(__name__)


def notify(message: str) -> bool:
    """Send one notification (READY=1, WATCHDOG=1, STATUS=...); False when there is no systemd to tell."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode(), address)
    except OSError as exc:
        log.warning("systemd notification not sent: %s", exc)
        return False
    return True


def watchdog_interval_s() -> float | None:
    """How often to ping the watchdog (half its timeout), or None when no watchdog is set for us."""
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    owner = os.environ.get("WATCHDOG_PID")
    if usec <= 0 or (owner and owner != str(os.getpid())):
        return None
    return usec / 2_000_000


async def feed_watchdog(well: Callable[[], bool]) -> None:
    """Ping the watchdog at half its timeout while well() says so; a hung loop stops the pings."""
    interval = watchdog_interval_s()
    if interval is None:
        return
    while True:
        if well():
            notify("WATCHDOG=1")
        else:
            log.error("not feeding the watchdog: the playout engine stopped")
        await asyncio.sleep(interval)
