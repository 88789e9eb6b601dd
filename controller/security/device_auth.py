"""Requests from devices, signed with the key each device enrolled with (body included)."""

from __future__ import annotations

import logging

from fastapi import Request

from loalang_protocol.http_auth import (
    BODY_HASH_HEADER,
    DEVICE_HEADER,
    SIGNATURE_HEADER,
    TIME_HEADER,
    Refusal,
    check_request,
)
from loalang_protocol.keys import public_from_text

from ..context import Services
from ..db.models import Device
from ..errors import DomainError

log = logging.getLogger(__name__)

SIGNED_HEADERS = (TIME_HEADER, BODY_HASH_HEADER, SIGNATURE_HEADER)
MESSAGES = {
    Refusal.NOT_SIGNED: "only enrolled devices may do this",
    Refusal.BODY_CHANGED: "the body is not the one the device signed",
    Refusal.BODY_NOT_SIGNED: "a request with a body must sign it (X-Loa-Content-SHA256)",
}


class DeviceRefused(DomainError):
    """A device request that is not accepted; 403 with a stable code."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.value, MESSAGES[refusal], 403)


def authenticated_device(request: Request, services: Services, body: bytes = b"") -> Device:
    """The enrolled device that signed this request and its body (empty for a GET); 403 for anyone
    else, or for a body that is not the one signed."""
    device_id = request.headers.get(DEVICE_HEADER, "")[:48]
    with services.db.session() as session:
        device = session.get(Device, device_id) if device_id else None
    if device is None or not device.public_key:
        raise DeviceRefused(Refusal.NOT_SIGNED)
    signed = {name: request.headers[name] for name in SIGNED_HEADERS if name in request.headers}
    method, path = request.method, request.url.path
    refusal = check_request(public_from_text(device.public_key), method, path, signed, body)
    if refusal is not None:
        log.warning("device %s: %s %s refused (%s)", device.id, method, path, refusal.value)
        raise DeviceRefused(refusal)
    return device
