"""The agent tells systemd it is ready and feeds the watchdog over the real notification socket."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from receiver_agent import systemd

pytestmark = pytest.mark.unit


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> socket.socket:
    path = tmp_path / "notify"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    return listener


def test_ready_reaches_systemd(notify_socket: socket.socket) -> None:
    assert systemd.notify("READY=1\nSTATUS=agent running")
    assert notify_socket.recv(1024) == b"READY=1\nSTATUS=agent running"


def test_an_abstract_socket_is_addressed_as_systemd_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"loalang-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        listener.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.notify("WATCHDOG=1")
        assert listener.recv(64) == b"WATCHDOG=1"


def test_without_systemd_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not systemd.notify("READY=1")


@pytest.mark.parametrize(("usec", "pid", "expected"), [
    ("30000000", None, 15.0), ("30000000", "self", 15.0), ("30000000", "1", None), ("", None, None),
    ("soon", None, None), ("0", None, None),
])
def test_the_watchdog_is_fed_at_half_its_timeout_only_when_it_is_ours(
        monkeypatch: pytest.MonkeyPatch, usec: str, pid: str | None, expected: float | None) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", usec)
    if pid is None:
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
    else:
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()) if pid == "self" else pid)
    assert systemd.watchdog_interval_s() == expected


def test_pings_stop_while_the_engine_is_not_well(notify_socket: socket.socket,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # a ping every 50 ms
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    well = [True]
    drained = []

    async def scenario() -> None:
        feeding = asyncio.create_task(systemd.feed_watchdog(lambda: well[0]))
        await asyncio.sleep(0.3)
        well[0] = False
        await asyncio.sleep(0.1)
        notify_socket.setblocking(False)
        while True:  # drain what came while well
            try:
                drained.append(notify_socket.recv(64))
            except BlockingIOError:
                break
        await asyncio.sleep(0.3)
        feeding.cancel()

    asyncio.run(scenario())
    assert len(drained) >= 3 and set(drained) == {b"WATCHDOG=1"}, "pinged while well"
    with pytest.raises(BlockingIOError):
        notify_socket.recv(64)
