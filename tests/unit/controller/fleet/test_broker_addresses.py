"""Broker addresses given to devices: checked, stored with a new desired version and audited, and
carried in the device's desired state (absent for a device never given any)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from controller.db.models import Area, AuditEntry, Device
from controller.db.session import Database, migrate
from controller.fleet.broker_addresses import checked_addresses, store_addresses
from controller.fleet.desired import device_desired
from controller.fleet.devices import DeviceError
from loalang_protocol.broker_addresses import BrokerAddress

pytestmark = pytest.mark.unit

NODES = [{"host": "nats-1.example.vn", "port": 1883}, {"host": "10.0.0.2", "port": 1883}]


def database(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'addresses.sqlite3'}"
    migrate(url)
    db = Database(url)
    with db.session() as session:
        session.add(Area(id="tinh", name="Tỉnh", parent_id=None, level="province"))
        session.flush()
        session.add_all(Device(id=device_id, name=device_id, area_id="tinh", desired_version=3)
                        for device_id in ("loa-1", "loa-2"))
    return db


def test_the_list_is_stored_with_a_new_version_and_travels_in_desired_state(tmp_path: Path) -> None:
    db = database(tmp_path)
    with db.session() as session:
        device = session.get(Device, "loa-1")
        assert device is not None
        store_addresses(session, "admin", [device], checked_addresses(NODES))
    with db.session() as session:
        device, other = session.get(Device, "loa-1"), session.get(Device, "loa-2")
        assert device is not None and other is not None
        assert device.desired_version == 4 and other.desired_version == 3
        assert device_desired(session, device, 0, 1000).broker_addresses == NODES
        assert device_desired(session, other, 0, 1000).broker_addresses is None
        audited = select(AuditEntry).where(AuditEntry.action == "device.broker_addresses")
        entry = session.scalars(audited).one()
        assert entry.targets == ["loa-1"] and entry.detail["addresses"] == ["nats-1.example.vn:1883",
                                                                            "10.0.0.2:1883"]


def test_repeats_are_dropped() -> None:
    assert checked_addresses([*NODES, NODES[0]]) == [BrokerAddress("nats-1.example.vn", 1883),
                                                      BrokerAddress("10.0.0.2", 1883)]


@pytest.mark.parametrize("given", [[], [{"host": "bad host", "port": 1883}], [{"host": "a.vn", "port": 0}],
                                   [{"host": f"n{i}.vn", "port": 1883} for i in range(17)]])
def test_an_empty_or_invalid_list_is_refused_with_its_code(given: Any) -> None:
    with pytest.raises(DeviceError) as refused:
        checked_addresses(given)
    assert (refused.value.code, refused.value.status, refused.value.field) == (
        "broker_addresses_invalid", 422, "addresses")
