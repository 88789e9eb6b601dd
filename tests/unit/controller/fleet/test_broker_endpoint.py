"""The broker address given to devices: one host and port as before, or a cluster's nodes."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from controller.fleet.broker_endpoint import device_broker_address
from controller.settings import Settings
from loalang_protocol.broker_addresses import BrokerAddress

pytestmark = pytest.mark.unit


def _settings(**values: Any) -> Settings:
    return Settings(**{"environment": "test", "mqtt_host": "broker", "mqtt_port": 1883, **values})


def test_without_nodes_devices_get_the_one_host_and_port() -> None:
    settings = _settings(device_mqtt_host="mqtt.example.vn", device_mqtt_port=18883)
    assert settings.device_addresses() == []
    assert device_broker_address(settings) == BrokerAddress("mqtt.example.vn", 18883)
    assert device_broker_address(_settings()) == BrokerAddress("broker", 1883)


def test_nodes_are_read_in_order_and_the_first_is_the_one_address() -> None:
    settings = _settings(device_mqtt_host="mqtt.example.vn",
                         device_mqtt_addresses=" n1.example:1883, n2.example:1884,[fd00::3]:1883 ")
    assert settings.device_addresses() == [
        BrokerAddress("n1.example", 1883), BrokerAddress("n2.example", 1884), BrokerAddress("fd00::3", 1883)]
    assert device_broker_address(settings) == BrokerAddress("n1.example", 1883)


@pytest.mark.parametrize("value", ["n1.example", "n1.example:0", "n1 example:1883",
                                   ",".join(f"n{i}.example:1883" for i in range(17))])
def test_a_bad_node_stops_the_controller_at_start(value: str) -> None:
    with pytest.raises(ValidationError, match="LOALANG_DEVICE_MQTT_ADDRESSES"):
        _settings(device_mqtt_addresses=value)
