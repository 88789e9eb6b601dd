"""Giving devices the addresses of a broker cluster's nodes, through their signed desired state.

Each device keeps the list in its configuration file and connects to these nodes from its next
connection attempt on; one whose current node is still listed stays connected.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loalang_protocol.broker_addresses import AddressError, BrokerAddress, address_list

from .. import audit
from ..context import Services
from ..db.models import Area, Device
from . import desired
from .areas import parent_map, subtree
from .devices import DeviceError

log = logging.getLogger(__name__)


def checked_addresses(given: Any) -> list[BrokerAddress]:
    """The list as devices will get it (1 to 16 valid addresses, repeats dropped), or a DeviceError."""
    try:
        return address_list(given)
    except AddressError as exc:
        raise DeviceError("broker_addresses_invalid", str(exc), 422, "addresses") from None


def store_addresses(session: Session, actor: str, devices: list[Device],
                    addresses: list[BrokerAddress]) -> None:
    """Set the list on each device with a new desired version, and record who did it."""
    wire = [{"host": address.host, "port": address.port} for address in addresses]
    for device in devices:
        device.broker_addresses = wire
        device.desired_version += 1
    audit.record(session, actor, "device.broker_addresses", [device.id for device in devices],
                 addresses=[str(address) for address in addresses])


async def set_device_addresses(services: Services, actor: str, device_id: str, given: Any) -> int:
    """Give one device the broker's addresses; returns its new desired version."""
    addresses = checked_addresses(given)
    with services.db.session() as session:
        device = session.get(Device, device_id)
        if device is None:
            raise DeviceError("unknown_device", f"device {device_id!r} does not exist", 404)
        store_addresses(session, actor, [device], addresses)
        version = device.desired_version
    await desired.publish_device(services, device_id)
    return version


async def set_area_addresses(services: Services, actor: str, area_id: str, given: Any) -> list[str]:
    """Give every device of an area and the areas below it the broker's addresses; returns their ids."""
    addresses = checked_addresses(given)
    with services.db.session() as session:
        if session.get(Area, area_id) is None:
            raise DeviceError("unknown_area", f"area {area_id!r} does not exist", 404, "area_id")
        areas = subtree(parent_map(session), area_id)
        devices = list(session.scalars(select(Device).where(Device.area_id.in_(areas)).order_by(Device.id)))
        store_addresses(session, actor, devices, addresses)
        device_ids = [device.id for device in devices]
    await desired.publish_targets(services, [desired.target_key("device", d) for d in device_ids])
    log.info("area %s: broker addresses given to %s devices", area_id, len(device_ids))
    return device_ids
