"""Clusters offline: an incident opens when a cluster has been offline for
`notify_offline_after_s`, and is resolved when it is online again.

Presence is detected by the MQTT bridge (a last will, or silence past the keepalive) and kept in
Redis (controller/presence.py); this looks at it every CHECK_S, so an incident follows the state
whatever changed it, and a cluster whose presence Redis lost (never connected, or Redis emptied)
is left alone until it is heard from again. A cluster deleted while offline resolves its incident.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import select

from ..context import Services
from ..db.models import Area, Device
from ..periodic import every
from ..redis_client import UNREACHABLE
from .incidents import Raised, open_subjects, raise_incident, resolve
from .rules import Kind

log = logging.getLogger(__name__)

CHECK_S = 2.0


async def check_presence(services: Services) -> None:
    """Open an incident for each cluster offline long enough; resolve those online again (or gone)."""
    with services.db.session() as session:
        devices = {device_id: (name, area_id) for device_id, name, area_id in session.execute(
            select(Device.id, Device.name, Device.area_id))}
        already = open_subjects(session, Kind.DEVICE_OFFLINE)
    online = await services.presence.online_among(sorted(devices))
    for device_id in sorted((already & online) | (already - devices.keys())):
        await resolve(services, Kind.DEVICE_OFFLINE, device_id)
    candidates = sorted(devices.keys() - online - already)
    if candidates:
        await _open_for_silent(services, candidates, devices)


async def _open_for_silent(services: Services, candidates: list[str],
                           devices: dict[str, tuple[str, str]]) -> None:
    """Open an incident for each of these clusters seen offline for longer than the setting."""
    now_ms = int(time.time() * 1000)
    grace_ms = services.settings.notify_offline_after_s * 1000
    offline = sorted((device_id, since_ms, reason) for device_id, (since_ms, reason)
                     in (await services.presence.offline_since(candidates)).items()
                     if now_ms - since_ms >= grace_ms)
    if not offline:
        return
    with services.db.session() as session:
        area_names = dict(session.execute(select(Area.id, Area.name)).all())
    for device_id, since_ms, reason in offline:
        name, area_id = devices[device_id]
        await raise_incident(services, Raised(
            Kind.DEVICE_OFFLINE, device_id, [area_id], f"{name} ({area_names.get(area_id, area_id)})",
            {"device_id": device_id, "device_name": name, "reason": reason, "offline_since_ms": since_ms}))


async def presence_watch(services: Services) -> None:
    """Run check_presence every CHECK_S, forever; never raises. Redis being gone is told once by the
    presence watchdog; the next look catches up."""
    await every(CHECK_S, lambda: check_presence(services), "notifications: presence check", quiet=UNREACHABLE)
