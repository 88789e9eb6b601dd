"""Choosing the amplifier relay driver from the configuration."""

from __future__ import annotations

from .amplifier import FileRelay, GpioRelay, RelayDriver
from .config import AgentConfig


def make_relay(config: AgentConfig) -> RelayDriver:
    """A GPIO relay on a board, the simulated relay (a file) in tests and the demo."""
    if config.amplifier.driver == "gpio":
        return GpioRelay(config.amplifier.gpio_pin, config.amplifier.active_high)
    return FileRelay(config.data_dir / "amplifier")
