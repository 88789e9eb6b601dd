"""Publishing signed desired state: once per area, once per device for device settings.

Desired state is retained (a speed-up for reconnecting agents) and versioned; an agent's
birth carries the versions it holds, and whatever is older is published again. Each publication
is noted in Redis (how far its horizon reached, when it was made) for the horizon keeper.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loalang_protocol import topics
from loalang_protocol.messages import DesiredState, DeviceSettings, QuietHours
from loalang_protocol.topics import AreaTopic, DeviceTopic

from ..context import Services
from ..db.models import AgentRelease, Area, Device, Occurrence
from .areas import DEFAULT_TIMEZONE, chain, effective, parent_map
from .policies import DEFAULT_QUIET

DEFAULT_DUCKING_DB = -15  # the agent's own default too (receiver_agent/audio/mixer.py)

log = logging.getLogger(__name__)


PUBLISHED_KEY = "loalang:desired:published"
KEEP_PAST_MS = 3600 * 1000
PUBLISH_CONCURRENCY = 8


def occurrences_for(session: Session, now_ms: int, horizon_ms: int, area_id: str | None = None,
                    device_id: str | None = None) -> list[dict[str, Any]]:
    """The occurrences of an area or a device inside the horizon, as they travel on the wire."""
    query = select(Occurrence).where(
        Occurrence.start_ms <= now_ms + horizon_ms,
        Occurrence.start_ms + Occurrence.duration_ms + Occurrence.max_lateness_ms >= now_ms - KEEP_PAST_MS,
    )
    query = query.where(Occurrence.area_id == area_id) if area_id else query.where(
        Occurrence.device_id == device_id)
    return [_wire(row) for row in session.scalars(query.order_by(Occurrence.start_ms))]


def _wire(row: Occurrence) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": row.id, "level": row.level, "start_ms": row.start_ms, "duration_ms": row.duration_ms,
        "source": row.source, "max_lateness_ms": row.max_lateness_ms, "quiet_override": row.quiet_override,
        "issued_ms": row.issued_ms, "title": row.title,
    }
    if row.valid_until_ms is not None:
        item["valid_until_ms"] = row.valid_until_ms
    return item


def quiet_hours_of(session: Session, area_id: str) -> QuietHours:
    """The area's quiet hours and time zone, inherited from the nearest area that sets them."""
    start = effective(session, area_id, "quiet_start") or DEFAULT_QUIET[0]
    end = effective(session, area_id, "quiet_end") or DEFAULT_QUIET[1]
    zone = effective(session, area_id, "timezone") or DEFAULT_TIMEZONE
    return QuietHours(start=str(start), end=str(end), timezone=str(zone))


def ducking_of(session: Session, area_id: str) -> int:
    """How far the area's background programmes go down under an announcement, inherited."""
    value = effective(session, area_id, "ducking_db")
    return int(value) if isinstance(value, int) else DEFAULT_DUCKING_DB


def device_desired(session: Session, device: Device, now_ms: int, horizon_ms: int) -> DesiredState:
    """The desired state of one device: settings, area chain, occurrences addressed to it alone, the
    broker's addresses when it was given some, and the release a rollout offers it."""
    return DesiredState(
        scope="device", target=device.id, version=device.desired_version,
        settings=DeviceSettings(volume=device.volume), areas=chain(parent_map(session), device.area_id),
        occurrences=occurrences_for(session, now_ms, horizon_ms, device_id=device.id),
        broker_addresses=device.broker_addresses, release=_release_offer(session, device),
    )


def _release_offer(session: Session, device: Device) -> dict[str, Any] | None:
    if device.release_version is None:
        return None
    release = session.get(AgentRelease, device.release_version)
    if release is None:
        return None
    return {"version": release.version, "sha256": release.sha256, "size": release.size,
            "gate_s": device.release_gate_s}


async def publish_device(services: Services, device_id: str) -> None:
    """Publish the device's current desired state (retained, signed)."""
    now_ms, horizon_ms = _now_ms(), services.settings.schedule_horizon_s * 1000
    with services.db.session() as session:
        device = session.get(Device, device_id)
        if device is None or device.desired_version == 0:
            return
        desired = device_desired(session, device, now_ms, horizon_ms)
    topic = topics.device(device_id, DeviceTopic.DESIRED)
    payload = await services.signer.seal(topic, desired.model_dump(), services.settings.desired_ttl_s)
    await services.link.publish(topic, payload, qos=1, retain=True)
    await _note_published(services, target_key("device", device_id), now_ms + horizon_ms, now_ms)
    log.info("device %s: desired state v%s published", device_id, desired.version)


async def publish_area(services: Services, area_id: str) -> None:
    """Publish an area's desired state (retained, signed), once for every device below it."""
    now_ms, horizon_ms = _now_ms(), services.settings.schedule_horizon_s * 1000
    with services.db.session() as session:
        area = session.get(Area, area_id)
        if area is None or area.desired_version == 0:
            return
        desired = DesiredState(
            scope="area", target=area.id, version=area.desired_version,
            occurrences=occurrences_for(session, now_ms, horizon_ms, area_id=area.id),
            quiet_hours=quiet_hours_of(session, area.id), ducking_db=ducking_of(session, area.id),
        )
    topic = topics.area(area_id, AreaTopic.DESIRED)
    payload = await services.signer.seal(topic, desired.model_dump(), services.settings.desired_ttl_s)
    await services.link.publish(topic, payload, qos=1, retain=True)
    await _note_published(services, target_key("area", area_id), now_ms + horizon_ms, now_ms)
    log.info("area %s: desired state v%s published", area_id, desired.version)


async def publish_targets(services: Services, keys: list[str]) -> None:
    """Publish each target (`area:ID` or `device:ID`) once, a few at a time to overlap the broker's acks."""
    gate = asyncio.Semaphore(PUBLISH_CONCURRENCY)

    async def publish_one(key: str) -> None:
        scope, target = key.split(":", 1)
        async with gate:
            await (publish_area(services, target) if scope == "area" else publish_device(services, target))

    results = await asyncio.gather(*(publish_one(key) for key in dict.fromkeys(keys)), return_exceptions=True)
    failures = [result for result in results if isinstance(result, BaseException)]
    if failures:
        raise failures[0]


def target_key(scope: str, target: str) -> str:
    """How a desired-state target is named in the publication record: `area:ID` or `device:ID`."""
    return f"{scope}:{target}"


async def _note_published(services: Services, key: str, horizon_end_ms: int, published_ms: int) -> None:
    await services.redis.hset(PUBLISHED_KEY, key,
                              f"{horizon_end_ms} {published_ms} {services.keyring.signing.kid}")


def _now_ms() -> int:
    return int(time.time() * 1000)


async def clear_device(services: Services, device_id: str) -> None:
    """Remove a deleted device's retained desired state from the broker."""
    await services.link.publish(topics.device(device_id, DeviceTopic.DESIRED), b"", qos=1, retain=True)
    await services.redis.hdel(PUBLISHED_KEY, target_key("device", device_id))
