"""A local Icecast2 server (Debian's), for relay tests and the demo: a station to relay.

Icecast refuses to run as root unless told to change to another user; its logs then go to
standard error (kept by the server's log file), since that user may not enter a private folder.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from .ports import wait_for_port
from .process import Server

RUN_AS = "nobody"


@dataclass(frozen=True)
class Icecast:
    """A running server and how to feed it."""

    server: Server
    port: int
    source_password: str

    def source_url(self, mount: str) -> str:
        """Where a source client (ffmpeg) sends a mount point's audio."""
        return f"icecast://source:{self.source_password}@127.0.0.1:{self.port}/{mount}"

    def listen_url(self, mount: str) -> str:
        """Where listeners (a relay) read it."""
        return f"http://127.0.0.1:{self.port}/{mount}"

    def stop(self) -> None:
        """Stop the server."""
        self.server.stop()


def start(data_dir: Path, port: int) -> Icecast:
    """Start icecast2 on 127.0.0.1:port with its files in data_dir, and wait for it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    password = secrets.token_hex(12)
    config = data_dir / "icecast.xml"
    config.write_text(_config(port, password))
    binary = shutil.which("icecast2") or "/usr/bin/icecast2"
    server = Server("icecast2", [binary, "-c", str(config)], data_dir / "icecast.out")
    server.start()
    try:
        wait_for_port("127.0.0.1", port)
    except TimeoutError:
        server.stop()
        raise RuntimeError(f"icecast2 did not start:\n{server.tail()}") from None
    return Icecast(server, port, password)


def _config(port: int, password: str) -> str:
    as_root = os.geteuid() == 0
    root = f"<changeowner><user>{RUN_AS}</user><group>nogroup</group></changeowner>" if as_root else ""
    return f"""<icecast>
  <location>loalang test</location><admin>nobody@localhost</admin>
  <limits><clients>50</clients><sources>4</sources><burst-size>16384</burst-size>
    <source-timeout>10</source-timeout></limits>
  <authentication><source-password>{password}</source-password>
    <admin-user>admin</admin-user><admin-password>{secrets.token_hex(12)}</admin-password></authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <fileserve>0</fileserve>
  <paths><logdir>/tmp</logdir>
    <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot></paths>
  <logging><accesslog>-</accesslog><errorlog>-</errorlog><loglevel>2</loglevel></logging>
  <security><chroot>0</chroot>{root}</security>
</icecast>
"""
