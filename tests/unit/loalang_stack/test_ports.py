"""Ports from the environment: consecutive ones for the NATS demo's nodes, each checked free."""

from __future__ import annotations

import socket

import pytest

from loalang_stack.ports import PortTaken, ports_from_env

pytestmark = pytest.mark.unit


def listening_block() -> tuple[int, socket.socket]:
    """A port whose next one is taken (by the returned socket)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        taker = socket.socket()
        try:
            taker.bind(("127.0.0.1", first + 1))
        except OSError:
            taker.close()
            continue
        taker.listen()
        return first, taker


def test_consecutive_ports_start_at_the_variables_port(monkeypatch: pytest.MonkeyPatch) -> None:
    first, taker = listening_block()
    taker.close()
    monkeypatch.setenv("LOALANG_MQTT_PORT", str(first))
    assert ports_from_env("LOALANG_MQTT_PORT", 1883, 2) == [first, first + 1]


def test_a_taken_port_after_the_first_is_named_with_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    first, taker = listening_block()
    monkeypatch.setenv("LOALANG_MQTT_PORT", str(first))
    with taker, pytest.raises(PortTaken, match=rf"port {first + 1} .* set LOALANG_MQTT_PORT to a free port"):
        ports_from_env("LOALANG_MQTT_PORT", 1883, 3)


def test_a_port_that_is_no_number_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOALANG_MQTT_PORT", "mqtt")
    with pytest.raises(PortTaken, match="LOALANG_MQTT_PORT='mqtt' is not a port number"):
        ports_from_env("LOALANG_MQTT_PORT", 1883, 3)
