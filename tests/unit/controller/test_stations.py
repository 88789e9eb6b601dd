"""Which station addresses a relay may reach: public ones, and private networks named in the settings."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from pydantic import ValidationError

from controller.live.sources import SourceError
from controller.live.station_proxy import station_pcm
from controller.live.stations import check_station, forbidden
from controller.settings import Settings

pytestmark = pytest.mark.unit

LAN = [ipaddress.ip_network("10.20.0.0/16")]


@pytest.mark.parametrize(("address", "refused"), [
    ("8.8.8.8", False), ("2001:4860:4860::8888", False),
    ("127.0.0.1", True), ("10.1.2.3", True), ("172.16.0.9", True), ("192.168.1.10", True),
    ("169.254.169.254", True), ("100.64.0.1", True), ("0.0.0.0", True), ("224.0.0.1", True),
    ("::1", True), ("fe80::1", True), ("fd00::5", True), ("::ffff:10.1.2.3", True),
    ("10.20.3.4", False), ("::ffff:10.20.3.4", False),
])
def test_only_public_addresses_and_the_named_networks_may_be_relayed(address: str, refused: bool) -> None:
    assert forbidden(ipaddress.ip_address(address), LAN) is refused


@pytest.mark.parametrize("url", ["http://10.1.2.3:8000/live", "http://169.254.169.254/latest/meta-data",
                                 "http://[::1]:6379/", "https://192.168.1.10/radio.mp3"])
def test_a_station_on_a_private_address_is_refused_with_the_reason(url: str) -> None:
    with pytest.raises(SourceError, match="private or local"):
        asyncio.run(check_station(url, LAN))


def test_a_named_network_and_an_unresolvable_name_pass_and_the_start_checks_again() -> None:
    asyncio.run(check_station("http://10.20.0.7:8000/live", LAN))
    asyncio.run(check_station("http://station.invalid/live", []))  # it fails when it starts instead

    async def first_block() -> bytes:
        return await anext(station_pcm("http://127.0.0.1:9/live", []))
    with pytest.raises(SourceError, match="private or local"):
        asyncio.run(first_block())


@pytest.mark.parametrize("value", ["10.0.0.0/33", "not a network", "10.0.0.0/8,,fe80::/10x"])
def test_a_bad_network_setting_is_refused_at_start(value: str) -> None:
    with pytest.raises(ValidationError, match="LOALANG_RELAY_ALLOWED_NETWORKS"):
        Settings(environment="test", relay_allowed_networks=value)


def test_the_networks_setting_takes_a_comma_separated_list() -> None:
    settings = Settings(environment="test", relay_allowed_networks=" 10.20.0.0/16, fd00::/8 ")
    assert settings.relay_networks() == [ipaddress.ip_network(n) for n in ("10.20.0.0/16", "fd00::/8")]
