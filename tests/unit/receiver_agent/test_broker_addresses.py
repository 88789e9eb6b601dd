"""Broker addresses from desired state: written into the configuration file and used by the link,
or refused whole when the list is empty or invalid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loalang_protocol.broker_addresses import BrokerAddress
from loalang_protocol.mqtt import LinkSettings, MqttLink
from receiver_agent import config as config_file
from receiver_agent.broker_addresses import take_addresses
from receiver_agent.config import AgentConfig, BrokerConfig

pytestmark = pytest.mark.unit

ONE = BrokerAddress("broker.example.vn", 1883)
NODES = [{"host": "n1.example.vn", "port": 1883}, {"host": "broker.example.vn", "port": 1883}]


def _config(folder: Path) -> tuple[AgentConfig, Path]:
    config = AgentConfig(
        device_id="loa-7", controller_url="https://radio.example.vn", root_public_key="A" * 43,
        areas=["tinh-thu"], data_dir=folder,
        broker=BrokerConfig(host=ONE.host, port=ONE.port, username="dev-loa-7", password="0123456789",
                            client_id="dev-loa-7"),
    )
    path = folder / "agent.toml"
    config_file.save(config, path)
    return config, path


def _link(config: AgentConfig) -> MqttLink:
    return MqttLink(LinkSettings(host=config.broker.host, port=config.broker.port, client_id="dev-loa-7",
                                 addresses=tuple(config.broker.broker_addresses())))


async def test_a_valid_list_is_written_keeping_the_mode_and_used_next(tmp_path: Path) -> None:
    config, path = _config(tmp_path)
    path.chmod(0o640)  # an operator's choice of mode stays
    link = _link(config)
    assert await take_addresses(NODES, config, path, link) is True
    expected = [BrokerAddress("n1.example.vn", 1883), ONE]
    assert config_file.load(path).broker.broker_addresses() == expected
    assert path.stat().st_mode & 0o777 == 0o640
    assert link.addresses.addresses == expected
    assert link.addresses.current == ONE  # still in the list: no move
    assert config.broker.addresses == ["n1.example.vn:1883", "broker.example.vn:1883"]


async def test_the_same_list_again_changes_nothing(tmp_path: Path) -> None:
    config, path = _config(tmp_path)
    link = _link(config)
    await take_addresses(NODES, config, path, link)
    written = path.stat().st_mtime_ns
    assert await take_addresses(NODES, config, path, link) is False
    assert path.stat().st_mtime_ns == written


@pytest.mark.parametrize("given", [[], "n1.example.vn:1883", [{"host": "n1 example", "port": 1883}],
                                   [{"host": "n1.example.vn", "port": 70000}],
                                   [{"host": f"n{i}.example.vn", "port": 1883} for i in range(17)]])
async def test_an_empty_or_invalid_list_is_refused_and_changes_nothing(
        tmp_path: Path, given: Any, caplog: pytest.LogCaptureFixture) -> None:
    config, path = _config(tmp_path)
    before = path.read_bytes()
    link = _link(config)
    assert await take_addresses(given, config, path, link) is False
    assert path.read_bytes() == before
    assert link.addresses.addresses == [ONE] and config.broker.addresses is None
    assert "broker addresses in desired state refused" in caplog.text
