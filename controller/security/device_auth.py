"""Requests from devices, signed with the key each device enrolled with."""

from __future__ import annotations

from fastapi import HTTPException, Request, status

from loalang_protocol.http_auth import DEVICE_HEADER, SIGNATURE_HEADER, TIME_HEADER, verify_request
from loalang_protocol.keys import public_from_text

from ..context import Services
from ..db.models import Device


def authenticated_device(request: Request, services: Services) -> Device:
    """The enrolled device that signed this request; 403 for anyone else."""
    device_id = request.headers.get(DEVICE_HEADER, "")[:48]
    with services.db.session() as session:
        device = session.get(Device, device_id) if device_id else None
    denied = HTTPException(status.HTTP_403_FORBIDDEN, "only enrolled devices may do this")
    if device is None or not device.public_key:
        raise denied
    if not verify_request(public_from_text(device.public_key), request.method, request.url.path,
                          request.headers.get(TIME_HEADER, ""), request.headers.get(SIGNATURE_HEADER, "")):
        raise denied
    return device
