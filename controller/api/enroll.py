"""Enrolment: a device redeems its claim code with its public key."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status

from ..fleet import devices
from ..fleet.devices import DeviceError, EnrolmentRefused
from .deps import ServicesDep
from .schemas import BrokerCredentials, EnrollRequest, EnrollResponse

router = APIRouter(tags=["enrolment"])

MAX_ATTEMPTS_PER_ADDRESS = 20
WINDOW_S = 600


@router.post("/enroll", response_model=EnrollResponse, summary="Enrol a device with its claim code")
async def enroll(body: EnrollRequest, request: Request, services: ServicesDep) -> EnrollResponse:
    """Redeem a one-time claim code; the answer holds broker credentials and the root public key."""
    address = request.client.host if request.client else "unknown"
    key = f"loa:enroll:{address}"
    attempts = await services.redis.incr(key)
    if attempts == 1:
        await services.redis.expire(key, WINDOW_S)
    if attempts > MAX_ATTEMPTS_PER_ADDRESS:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many enrolment attempts; wait 10 minutes")
    try:
        result = await devices.enrol(services, body.code, body.public_key)
    except EnrolmentRefused:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "claim code is not valid (unknown, used or expired)") from None
    except DeviceError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    settings = services.settings
    return EnrollResponse(
        device_id=result.device_id, areas=result.areas, root_public_key=result.root_public_key,
        controller_url=settings.public_url,
        broker=BrokerCredentials(
            host=settings.device_mqtt_host or settings.mqtt_host,
            port=settings.device_mqtt_port or settings.mqtt_port,
            username=result.device_id, password=result.password, client_id=result.device_id,
            tls=bool(settings.mqtt_tls_ca_file), keepalive=settings.device_keepalive_s,
        ),
    )
