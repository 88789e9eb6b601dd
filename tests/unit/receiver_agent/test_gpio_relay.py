"""The amplifier relay on a real board's GPIO, through gpiozero's own mock pins: the pin follows the
amplifier, at the configured active level, off at start and off after the hold time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from receiver_agent import config as config_file
from receiver_agent.amplifier import Amplifier, GpioRelay
from receiver_agent.relays import make_relay, relay_state
from tests.testkit import wait_for

pytestmark = pytest.mark.unit

PIN = 17


@pytest.fixture
def pins() -> Iterator[MockFactory]:
    factory = MockFactory()
    Device.pin_factory = factory
    yield factory
    factory.reset()
    Device.pin_factory = None


@pytest.mark.parametrize("active_high", [True, False])
def test_the_pin_is_at_its_active_level_only_while_the_amplifier_is_on(pins: MockFactory,
                                                                         active_high: bool) -> None:
    pin = pins.pin(PIN)
    amplifier = Amplifier(GpioRelay(PIN, active_high=active_high), hold_s=0.2, watchdog_s=60)
    assert pin.state is (not active_high), "off at start"
    amplifier.switch_on()
    assert pin.state is active_high
    amplifier.release()
    wait_for(lambda: pin.state is (not active_high), 3.0, what="off after the hold time")


def test_the_board_configuration_drives_the_gpio_pin_and_notes_its_state(pins: MockFactory,
                                                                        tmp_path: Path) -> None:
    settings = config_file.AgentConfig.model_validate({
        "device_id": "loa-1", "controller_url": "https://radio.example.vn", "root_public_key": "x" * 43,
        "areas": ["xa-mot"], "data_dir": str(tmp_path),
        "broker": {"host": "radio.example.vn", "port": 8883, "username": "dev-loa-1",
                   "password": "broker-password", "client_id": "dev-loa-1-x"},
        "amplifier": {"driver": "gpio", "gpio_pin": 22, "active_high": False},
    })
    relay = make_relay(settings)
    relay.set(True)
    assert pins.pin(22).state is False, "active low: on pulls the pin down"
    assert relay_state(settings) is True, "the status page reads what the driver set"
    relay.set(False)
    assert pins.pin(22).state is True and relay_state(settings) is False
