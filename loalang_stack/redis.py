"""The project's own Redis server."""

from __future__ import annotations

import shutil
from pathlib import Path

from .ports import wait_for_port
from .process import Server


def start(data_dir: Path, port: int, address: str = "127.0.0.1") -> Server:
    """Start redis-server on address:port with its files in data_dir, and wait for it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    argv = [
        binary, "--port", str(port), "--bind", address, "--dir", str(data_dir),
        "--save", "", "--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no",
    ]
    server = Server("redis", argv, data_dir / "redis.log")
    server.start()
    try:
        wait_for_port(address, port)
    except TimeoutError:
        server.stop()
        raise RuntimeError(f"redis did not start:\n{server.tail()}") from None
    return server
