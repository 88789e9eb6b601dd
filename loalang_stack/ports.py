"""Port choice: free ports for tests, clear errors for taken ports."""

from __future__ import annotations

import os
import socket
import time


class PortTaken(RuntimeError):
    """A configured port is already in use."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_from_env(variable: str, default: int, host: str = "127.0.0.1") -> int:
    """Read a port from the environment and make sure it is free, naming the variable if not."""
    raw = os.environ.get(variable, str(default))
    try:
        port = int(raw)
    except ValueError:
        raise PortTaken(f"{variable}={raw!r} is not a port number") from None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise PortTaken(
                f"port {port} on {host} is already in use; set {variable} to a free port "
                f"(for example {variable}={free_port(host)})"
            ) from None
    return port


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
