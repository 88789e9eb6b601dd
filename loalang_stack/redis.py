"""The project's own Redis server."""

from __future__ import annotations

import shutil
from pathlib import Path

from .ports import wait_for_port
from .process import Server


def _binary() -> str:
    return shutil.which("redis-server") or "/usr/bin/redis-server"


def start(data_dir: Path, port: int, address: str = "127.0.0.1", replica_of: int | None = None,
          password: str | None = None) -> Server:
    """Start redis-server on address:port with its files in data_dir, and wait for it; with
    replica_of, as a replica of the Redis on that port of the same address; with password, asking
    every client for it (and giving it to the master, which asks the same)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "redis.conf"
    config.write_text("\n".join(_auth_lines(password, "requirepass", "masterauth")))
    config.chmod(0o600)  # the password stays off the command line, which every local user can read
    argv = [
        _binary(), str(config), "--port", str(port), "--bind", address, "--dir", str(data_dir),
        "--save", "", "--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no",
    ]
    if replica_of is not None:
        argv += ["--replicaof", address, str(replica_of)]
    return _started(Server("redis", argv, data_dir / "redis.log"), address, port)


def _auth_lines(password: str | None, *directives: str) -> list[str]:
    """Configuration lines giving password to each directive; none without a password."""
    if password is None:
        return [""]
    return [f'{directive} "{password}"' for directive in directives] + [""]


def start_sentinel(data_dir: Path, port: int, master_name: str, master_port: int,
                   address: str = "127.0.0.1", down_after_ms: int = 2000,
                   failover_timeout_ms: int = 10_000, password: str | None = None) -> Server:
    """Start a Redis Sentinel watching the master on master_port (quorum 1: the tests' one
    sentinel decides alone; production runs three). Sentinel rewrites its own configuration file,
    so it gets one of its own in data_dir. With password, the Sentinel asks its clients for it and
    gives it to the Redis servers it watches."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "sentinel.conf"
    config.write_text("\n".join([
        f"port {port}", f"bind {address}", f"dir {data_dir}", "protected-mode yes",
        f"sentinel monitor {master_name} {address} {master_port} 1",
        f"sentinel down-after-milliseconds {master_name} {down_after_ms}",
        f"sentinel failover-timeout {master_name} {failover_timeout_ms}",
        f"sentinel parallel-syncs {master_name} 1",
        *_auth_lines(password, "requirepass", f"sentinel auth-pass {master_name}"),
    ]))
    config.chmod(0o600)
    argv = [_binary(), str(config), "--sentinel"]
    return _started(Server("redis-sentinel", argv, data_dir / "sentinel.log"), address, port)


def _started(server: Server, address: str, port: int) -> Server:
    server.start()
    try:
        wait_for_port(address, port)
    except TimeoutError:
        server.stop()
        raise RuntimeError(f"redis did not start:\n{server.tail()}") from None
    return server
