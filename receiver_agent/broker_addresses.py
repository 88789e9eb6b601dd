"""Broker addresses from signed desired state: checked, written into the configuration file, and
used from the link's next connection attempt (the connection up now stays)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from loalang_protocol.broker_addresses import AddressError, BrokerAddress, address_list
from loalang_protocol.mqtt import MqttLink

from . import config as config_file
from .config import AgentConfig, ConfigError

log = logging.getLogger(__name__)


async def take_addresses(given: Any, config: AgentConfig, config_path: Path | None, link: MqttLink) -> bool:
    """Use the broker addresses a desired state gives; False (with a log line, nothing changed) when
    the list is empty or invalid, or when it is the list already in use."""
    try:
        addresses = address_list(given)
    except AddressError as exc:
        log.warning("device %s: broker addresses in desired state refused: %s", config.device_id, exc)
        return False
    if addresses == link.addresses.addresses and addresses == config.broker.broker_addresses():
        return False
    if config_path is not None:
        try:
            await asyncio.to_thread(_write, config_path, addresses)
        except (OSError, ConfigError) as exc:
            log.error("device %s: broker addresses not written to %s (used until the agent restarts): %s",
                      config.device_id, config_path, exc)
    config.broker.addresses = [str(address) for address in addresses]
    link.use_addresses(addresses)
    return True


def _write(path: Path, addresses: list[BrokerAddress]) -> None:
    """Put the addresses into the file as it is now on disk (another change to it is kept)."""
    on_disk = config_file.load(path)
    if on_disk.broker.broker_addresses() == addresses and on_disk.broker.addresses:
        return
    broker = on_disk.broker.model_copy(update={"addresses": [str(address) for address in addresses]})
    config_file.rewrite(on_disk.model_copy(update={"broker": broker}), path)
