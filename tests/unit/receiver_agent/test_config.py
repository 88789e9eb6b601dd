"""The `[broker]` table: one host and port as before, or a list of addresses of a cluster's nodes."""

from __future__ import annotations

from pathlib import Path

import pytest

from loalang_protocol.broker_addresses import BrokerAddress
from receiver_agent import config as config_file
from receiver_agent.config import ConfigError

pytestmark = pytest.mark.unit

OLD_FILE = """device_id = "loa-7"
controller_url = "https://radio.example.vn"
root_public_key = "{key}"
areas = ["tinh-thu", "xa-mot"]

[broker]
host = "broker.example.vn"
port = 8883
username = "dev-loa-7"
password = "0123456789"
client_id = "dev-loa-7"
"""
KEY = "A" * 43


def _write(tmp_path: Path, broker_lines: str = "") -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(OLD_FILE.format(key=KEY) + broker_lines)
    return path


def test_a_file_with_one_host_and_port_loads_as_before(tmp_path: Path) -> None:
    broker = config_file.load(_write(tmp_path)).broker
    assert broker.addresses is None
    assert broker.broker_addresses() == [BrokerAddress("broker.example.vn", 8883)]


def test_addresses_as_text_and_tables_are_read_and_written_back_as_text(tmp_path: Path) -> None:
    path = _write(tmp_path, 'addresses = ["n1.example:1883", {host = "::1", port = 11883}]\n')
    config = config_file.load(path)
    assert config.broker.addresses == ["n1.example:1883", "[::1]:11883"]
    assert config.broker.broker_addresses() == [BrokerAddress("n1.example", 1883),
                                                BrokerAddress("::1", 11883)]
    config_file.save(config, path)
    assert config_file.load(path) == config


@pytest.mark.parametrize("line", [
    "addresses = []",
    'addresses = ["n1.example"]',
    'addresses = ["bad host:1883"]',
    'addresses = [{host = "n1.example", port = 0}]',
    'addresses = "n1.example:1883"',
    "addresses = [" + ", ".join(f'"n{i}.example:1883"' for i in range(17)) + "]",
])
def test_a_bad_address_list_is_refused_with_its_place(tmp_path: Path, line: str) -> None:
    with pytest.raises(ConfigError, match=r"broker\.addresses"):
        config_file.load(_write(tmp_path, line + "\n"))
