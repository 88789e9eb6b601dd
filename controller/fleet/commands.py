"""Signed, idempotent commands to a device or an area, and their replies."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from loalang_protocol import topics
from loalang_protocol.messages import Command, CommandReply
from loalang_protocol.topics import AreaTopic, DeviceTopic

from ..context import Services
from ..redis_text import text

log = logging.getLogger(__name__)

_REPLY = "loa:reply:"
REPLY_TTL_S = 7 * 86400


def new_command_id() -> str:
    """A unique command id (a slug)."""
    return "c-" + secrets.token_hex(8)


async def send_to_device(services: Services, device_id: str, name: str, args: dict[str, Any]) -> str:
    """Publish a command to one device; returns its id."""
    return await _send(services, topics.device(device_id, DeviceTopic.COMMAND), name, args)


async def send_to_area(services: Services, area_id: str, name: str, args: dict[str, Any]) -> str:
    """Publish a command once to an area; every device below it receives it."""
    return await _send(services, topics.area(area_id, AreaTopic.COMMAND), name, args)


async def _send(services: Services, topic: str, name: str, args: dict[str, Any]) -> str:
    command = Command(id=new_command_id(), name=name, args=args)
    payload = await services.signer.seal(topic, command.model_dump(), services.settings.command_ttl_s)
    await services.link.publish(topic, payload, qos=1)
    return command.id


async def store_reply(services: Services, device_id: str, reply: CommandReply) -> None:
    """Keep a device's reply to a command."""
    key = f"{_REPLY}{reply.id}"
    await services.redis.hset(key, device_id, reply.model_dump_json())
    await services.redis.expire(key, REPLY_TTL_S)


async def replies(services: Services, command_id: str) -> dict[str, dict[str, Any]]:
    """Replies received so far, by device."""
    raw = await services.redis.hgetall(f"{_REPLY}{command_id}")
    found = {}
    for device_id, stored in raw.items():
        try:
            found[text(device_id)] = CommandReply.model_validate_json(stored).model_dump()
        except ValueError:
            log.warning("command %s: unreadable stored reply of %s skipped", command_id, text(device_id))
    return found
