"""Port choice: free ports for tests, clear errors for taken ports."""

from __future__ import annotations

import os
import random
import socket
import time
from pathlib import Path


class PortTaken(RuntimeError):
    """A configured port is already in use."""


LOWEST_PORT = 10_000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# from the system's entropy: parallel test workers (and tests that seed the random module, as
# Hypothesis does) must not draw the same sequence of ports
_CHOOSER = random.SystemRandom()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now, below the system's ephemeral range: a port the system
    hands out itself (bind to port 0) is one an outgoing connection may take as its own source port
    before the server that was to listen on it binds (seen with parallel test runs, whose NATS nodes
    and clients open many connections)."""
    below = _ephemeral_start()
    for _ in range(200):
        port = _CHOOSER.randrange(LOWEST_PORT, below)
        if _bindable(host, port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _ephemeral_start() -> int:
    try:
        start = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        start = 32_768
    return max(start, LOWEST_PORT + 1_000)


def port_from_env(variable: str, default: int, host: str = "127.0.0.1") -> int:
    """Read a port from the environment and make sure it is free, naming the variable if not."""
    return ports_from_env(variable, default, 1, host)[0]


def ports_from_env(variable: str, default: int, count: int, host: str = "127.0.0.1") -> list[int]:
    """count consecutive ports, the first read from the environment, each made sure to be free
    (naming the variable if one is not)."""
    raw = os.environ.get(variable, str(default))
    try:
        first = int(raw)
    except ValueError:
        raise PortTaken(f"{variable}={raw!r} is not a port number") from None
    ports = list(range(first, first + count))
    for port in ports:
        if not _bindable(host, port):
            follows = f" (it and the {count - 1} after it)" if count > 1 else ""
            raise PortTaken(
                f"port {port} on {host} is already in use; set {variable} to a free port{follows} "
                f"(for example {variable}={free_port(host)})"
            )
    return ports


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Wait until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s") from None
            time.sleep(0.05)
