"""Clusters offline: an incident opens when a cluster has been offline for
`notify_offline_after_s`, and is resolved when it is online again.

Presence is detected by the MQTT bridge (a last will, or silence past the keepalive) and kept in
Redis (controller/presence.py); this looks at it every CHECK_S, so an incident follows the state
whatever changed it, and a cluster whose presence Redis lost (never connected, or Redis emptied)
is left alone until it is heard from again.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import select

from ..context import Services
from ..db.models import Area, Device
from .incidents import Raised, open_subjects, raise_incident, resolve
from .rules import Kind

log = logging.getLogger(__name__)

CHECK_S = 2.0


async def check_presence(services: Services) -> None:
    """Open an incident for each cluster offline long enough; resolve those online again."""
    with services.db.session() as session:
        devices = {device.id: device for device in session.scalars(select(Device))}
        area_names = dict(session.execute(select(Area.id, Area.name)).all())
        session.expunge_all()
        already = open_subjects(session, Kind.DEVICE_OFFLINE)
    online = await services.presence.online_among(sorted(devices))
    for device_id in sorted(already & online):
        await resolve(services, Kind.DEVICE_OFFLINE, device_id)
    candidates = sorted(set(devices) - online - already)
    if not candidates:
        return
    now_ms = int(time.time() * 1000)
    grace_ms = services.settings.notify_offline_after_s * 1000
    for device_id, state in zip(candidates, await services.presence.live(candidates), strict=True):
        presence = state.presence
        if presence is None or presence.online or now_ms - presence.since_ms < grace_ms:
            continue
        device = devices[device_id]
        await raise_incident(services, Raised(
            Kind.DEVICE_OFFLINE, device_id, [device.area_id],
            f"{device.name} ({area_names.get(device.area_id, device.area_id)})",
            {"device_id": device_id, "device_name": device.name, "reason": presence.offline_reason,
             "offline_since_ms": presence.since_ms}))


async def presence_watch(services: Services) -> None:
    """Run check_presence every CHECK_S, forever; never raises."""
    while True:
        await asyncio.sleep(CHECK_S)
        try:
            await check_presence(services)
        except Exception:
            log.exception("notifications: presence check failed; trying again")
