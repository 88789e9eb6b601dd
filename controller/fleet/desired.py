"""Publishing signed desired state: once per area, once per device for device settings.

Desired state is retained (a speed-up for reconnecting agents) and versioned; an agent's
birth carries the versions it holds, and whatever is older is published again.
"""

from __future__ import annotations

import logging

from loalang_protocol import topics
from loalang_protocol.messages import DesiredState, DeviceSettings
from loalang_protocol.topics import AreaTopic, DeviceTopic

from ..context import Services
from ..db.models import Area, Device
from .areas import chain, parent_map

log = logging.getLogger(__name__)


def device_desired(device: Device, area_chain: list[str]) -> DesiredState:
    """The desired state of one device from its row."""
    return DesiredState(
        scope="device", target=device.id, version=device.desired_version,
        settings=DeviceSettings(volume=device.volume), areas=area_chain,
    )


async def publish_device(services: Services, device_id: str) -> None:
    """Publish the device's current desired state (retained, signed)."""
    with services.db.session() as session:
        device = session.get(Device, device_id)
        if device is None or device.desired_version == 0:
            return
        desired = device_desired(device, chain(parent_map(session), device.area_id))
    topic = topics.device(device_id, DeviceTopic.DESIRED)
    payload = await services.signer.seal(topic, desired.model_dump(), services.settings.desired_ttl_s)
    await services.link.publish(topic, payload, qos=1, retain=True)
    log.info("device %s: desired state v%s published", device_id, desired.version)


async def publish_area(services: Services, area_id: str) -> None:
    """Publish an area's desired state (retained, signed), once for every device below it."""
    with services.db.session() as session:
        area = session.get(Area, area_id)
        if area is None or area.desired_version == 0:
            return
        desired = DesiredState(scope="area", target=area.id, version=area.desired_version)
    topic = topics.area(area_id, AreaTopic.DESIRED)
    payload = await services.signer.seal(topic, desired.model_dump(), services.settings.desired_ttl_s)
    await services.link.publish(topic, payload, qos=1, retain=True)
    log.info("area %s: desired state v%s published", area_id, desired.version)


async def clear_device(services: Services, device_id: str) -> None:
    """Remove a deleted device's retained desired state from the broker."""
    await services.link.publish(topics.device(device_id, DeviceTopic.DESIRED), b"", qos=1, retain=True)
