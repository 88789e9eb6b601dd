"""Choosing the amplifier relay driver from the configuration, and reading its state from elsewhere.

The status page and `receiver-agent status` run in other processes and must not touch the relay
(opening a GPIO pin as an output drives it): they read the state the driver in use last set, which
the simulated relay keeps in its pin file and a GPIO relay notes in a file beside it.
"""

from __future__ import annotations

from pathlib import Path

from .amplifier import FileRelay, GpioRelay, RecordedRelay, RelayDriver
from .config import AgentConfig

SIMULATED_PIN_FILE = "amplifier"
GPIO_STATE_FILE = "amplifier-state"


def make_relay(config: AgentConfig) -> RelayDriver:
    """A GPIO relay on a board, the simulated relay (a file) in tests and the demo."""
    if config.amplifier.driver == "gpio":
        pin = GpioRelay(config.amplifier.gpio_pin, config.amplifier.active_high)
        return RecordedRelay(pin, _state_file(config))
    return FileRelay(_state_file(config))


def relay_state(config: AgentConfig) -> bool | None:
    """Whether the amplifier is on as its driver last set it; None before it was ever set."""
    try:
        return _state_file(config).read_text().strip() == "1"
    except FileNotFoundError:
        return None


def _state_file(config: AgentConfig) -> Path:
    name = GPIO_STATE_FILE if config.amplifier.driver == "gpio" else SIMULATED_PIN_FILE
    return config.data_dir / name
