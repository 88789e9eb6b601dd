"""The technician's status page reads the amplifier from the driver in use, without touching it."""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver_agent import status
from receiver_agent.amplifier import Amplifier, RecordedRelay
from receiver_agent.config import AgentConfig, AmplifierConfig, BrokerConfig
from receiver_agent.relays import GPIO_STATE_FILE, make_relay

pytestmark = pytest.mark.unit


class Pin:
    """A GPIO pin as gpiozero drives it (there is no GPIO on this machine)."""

    def __init__(self) -> None:
        self.high = False

    def set(self, on: bool) -> None:
        self.high = on

    def get(self) -> bool:
        return self.high


def _config(folder: Path, driver: str) -> AgentConfig:
    return AgentConfig(
        device_id="loa-7", controller_url="https://radio.example.vn", root_public_key="A" * 43,
        areas=["tinh-thu"], data_dir=folder, amplifier=AmplifierConfig(driver=driver),  # type: ignore[arg-type]
        broker=BrokerConfig(host="broker.example.vn", port=1883, username="dev-loa-7", password="0123456789",
                            client_id="dev-loa-7"),
    )


def test_a_board_with_a_gpio_relay_shows_its_amplifier_on_while_it_is(tmp_path: Path) -> None:
    config = _config(tmp_path, "gpio")
    pin = Pin()
    amplifier = Amplifier(RecordedRelay(pin, tmp_path / GPIO_STATE_FILE))
    assert status.collect(config)["amplifier_on"] is False
    amplifier.switch_on()
    assert pin.high
    assert status.collect(config)["amplifier_on"] is True
    amplifier.force_off()
    assert status.collect(config)["amplifier_on"] is False


def test_the_simulated_relay_is_read_from_its_pin_file(tmp_path: Path) -> None:
    config = _config(tmp_path, "simulated")
    assert status.collect(config)["amplifier_on"] is None, "never set yet"
    amplifier = Amplifier(make_relay(config))
    amplifier.switch_on()
    assert status.collect(config)["amplifier_on"] is True
