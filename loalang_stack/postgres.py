"""A throw-away PostgreSQL cluster for tests, run as the `postgres` user when we are root
(initdb refuses to run as root)."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .ports import wait_for_port
from .process import Server

DATABASE = "loalang"
USER = "loalang"
PASSWORD = secrets.token_urlsafe(16)  # a fresh password for every test run


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise FileNotFoundError(f"PostgreSQL's {name} not found; install the postgresql package")
    return found[-1]


def _as_owner(argv: list[str]) -> list[str]:
    if os.getuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def start(log_dir: Path, port: int) -> tuple[Server, str, Path]:
    """Initialise and start a cluster on 127.0.0.1:port.

    Returns the server, a SQLAlchemy URL and the cluster's folder, which is made in the system's
    temporary folder (the `postgres` user cannot enter a private test folder of root's); remove
    it with shutil.rmtree after stopping the server.
    """
    folder = Path(tempfile.mkdtemp(prefix="loalang-pg-"))
    password_file = folder / "initdb-password"
    password_file.write_text(PASSWORD)
    if os.getuid() == 0:
        for path in (folder, password_file):
            shutil.chown(path, "postgres", "postgres")
    cluster = folder / "cluster"
    subprocess.run(_as_owner([_bin("initdb"), "-D", str(cluster), "-U", USER, "--pwfile", str(password_file),
                              "-A", "scram-sha-256", "-E", "UTF8", "--no-sync"]),
                   check=True, capture_output=True)
    server = Server("postgres", _as_owner([
        _bin("postgres"), "-D", str(cluster), "-p", str(port), "-c", "listen_addresses=127.0.0.1",
        "-c", f"unix_socket_directories={folder}", "-c", "fsync=off",
    ]), log_dir / "postgres.log")
    server.start()
    wait_for_port("127.0.0.1", port, timeout=30)
    _create_database(port)
    return server, f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}", folder


def _create_database(port: int, timeout: float = 30.0) -> None:
    """Create the database once the server accepts connections (its port opens while it is still
    starting up, and a loaded machine makes that last)."""
    env = {**os.environ, "PGPASSWORD": PASSWORD}
    deadline = time.monotonic() + timeout
    while True:
        created = subprocess.run([_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, DATABASE],
                                 capture_output=True, text=True, env=env)
        if created.returncode == 0:
            return
        if "starting up" not in created.stderr or time.monotonic() > deadline:
            raise RuntimeError(f"createdb failed: {created.stderr.strip()[:500]}")
        time.sleep(0.2)
