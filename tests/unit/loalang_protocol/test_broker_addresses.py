"""Broker addresses: read and checked, the first chosen at random, the others taken in turn."""

from __future__ import annotations

import random

import pytest

from loalang_protocol.broker_addresses import (
    MAX_ADDRESSES,
    AddressError,
    AddressRotation,
    BrokerAddress,
    address_list,
    first_index,
    next_index,
    parse_address,
)
from loalang_protocol.mqtt import LinkSettings, MqttLink

pytestmark = pytest.mark.unit

A, B, C = BrokerAddress("nats-1.example", 1883), BrokerAddress("10.0.0.2", 1883), BrokerAddress("::1", 8883)


@pytest.mark.parametrize(("text", "address"), [
    ("nats-1.example:1883", A),
    ("10.0.0.2:1883", B),
    ("[::1]:8883", C),
    ("localhost:65535", BrokerAddress("localhost", 65535)),
    ("loalang_broker_1:1883", BrokerAddress("loalang_broker_1", 1883)),
])
def test_host_port_text_is_read(text: str, address: BrokerAddress) -> None:
    assert parse_address(text) == address
    assert str(address) == text


@pytest.mark.parametrize("text", [
    "nats-1", ":1883", "host:0", "host:65536", "host:port", "::1:1883", "bad host:1883", "-a.example:1",
    "a..b:1", "x" * 254 + ":1", "host:1883 ", "[host]:1883",
])
def test_a_bad_address_is_refused(text: str) -> None:
    with pytest.raises(AddressError):
        parse_address(text)


def test_a_list_takes_text_and_tables_and_drops_repeats() -> None:
    given = ["nats-1.example:1883", {"host": "10.0.0.2", "port": 1883}, "nats-1.example:1883"]
    assert address_list(given) == [A, B]


@pytest.mark.parametrize("given", [
    [], "nats-1.example:1883", None, [{"host": "a"}], [{"host": "a", "port": "1883"}],
    [{"host": "a", "port": True}], [{"host": "a", "port": 1, "tls": True}], [1883],
    [f"n{i}.example:1883" for i in range(MAX_ADDRESSES + 1)],
])
def test_a_bad_list_is_refused(given: object) -> None:
    with pytest.raises(AddressError):
        address_list(given)


def test_sixteen_addresses_are_allowed() -> None:
    assert len(address_list([f"n{i}.example:1883" for i in range(MAX_ADDRESSES)])) == MAX_ADDRESSES


def test_a_fleet_starts_spread_over_the_addresses() -> None:
    rng = random.Random(7)
    starts = [first_index(3, rng) for _ in range(300)]
    assert {starts.count(i) for i in range(3)} <= set(range(70, 131))


def test_each_address_is_tried_in_turn_after_a_failure() -> None:
    assert [next_index(i, 3) for i in range(3)] == [1, 2, 0]
    rotation = AddressRotation([A, B, C], random.Random(1))
    first = rotation.current
    tried = [first] + [rotation.advance() for _ in range(3)]
    assert sorted(tried[:3]) == sorted([A, B, C])
    assert tried[3] == first


def test_one_address_is_always_the_same() -> None:
    rotation = AddressRotation([A])
    assert [rotation.current, rotation.advance(), rotation.advance()] == [A, A, A]


def test_a_new_list_keeps_the_current_address_when_it_is_in_it() -> None:
    rotation = AddressRotation([A])
    assert rotation.replace([B, C, A]) is True
    assert rotation.current == A
    assert rotation.advance() == B


def test_a_new_list_without_the_current_address_moves_to_one_of_its_own() -> None:
    rotation = AddressRotation([A])
    assert rotation.replace([B, C]) is False
    assert rotation.current in (B, C)
    with pytest.raises(AddressError):
        rotation.replace([])


def test_a_link_without_a_list_uses_its_host_and_port() -> None:
    link = MqttLink(LinkSettings(host="127.0.0.1", port=1883, client_id="loa-test"))
    assert link.addresses.addresses == [BrokerAddress("127.0.0.1", 1883)]


def test_a_link_with_a_list_uses_it_and_takes_a_new_one() -> None:
    link = MqttLink(LinkSettings(host="127.0.0.1", port=1883, client_id="loa-test", addresses=(A, B)))
    assert link.addresses.current in (A, B)
    link.use_addresses([C])
    assert link.addresses.current == C
    assert link.settings.broker_addresses() == [C]
