"""Broadcasts that did not play everywhere: an incident when a final delivery report names devices
that never played it (offline, never received, failed or missed). Stopped and preempted are not
failures: someone, or something more urgent, ended them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import Broadcast, Device
from .incidents import Raised
from .rules import Kind

NOT_PLAYED = frozenset({"offline", "pending", "acknowledged", "downloading", "failed", "missed"})


def failed_delivery(session: Session, broadcast: Broadcast,
                    states: dict[str, dict[str, Any]]) -> Raised | None:
    """The incident a finished broadcast's report makes, or None when it played everywhere."""
    failed = {device_id: str(value.get("state")) for device_id, value in states.items()
              if value.get("state") in NOT_PLAYED}
    if not failed:
        return None
    devices = list(session.execute(select(Device.id, Device.name, Device.area_id)
                                   .where(Device.id.in_(sorted(failed)))))
    return Raised(Kind.DELIVERY_FAILED, broadcast.id, sorted({area for _, _, area in devices}),
                  f"{broadcast.title or broadcast.id}: {len(failed)}/{len(states)}",
                  {"broadcast_id": broadcast.id, "devices": failed,
                   "device_names": {device_id: name for device_id, name, _ in devices}})
