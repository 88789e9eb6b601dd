"""Enrolment: a device redeems its claim code with its public key."""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography import x509
from fastapi import APIRouter, HTTPException, Request, status

from ..context import Services
from ..fleet import devices
from ..fleet.devices import DeviceError, EnrolmentRefused
from ..settings import Settings
from .deps import ServicesDep
from .schemas import BrokerCredentials, EnrollRequest, EnrollResponse

log = logging.getLogger(__name__)
router = APIRouter(tags=["enrolment"])

MAX_FAILURES_PER_ADDRESS = 20  # failed attempts only: a workshop may enrol hundreds of boards
WINDOW_S = 600
DEFAULT_TLS_PORT = 8883
MAX_CA_PEM_BYTES = 16 * 1024  # a private CA's certificate or a few; a system-wide bundle is not sent


def device_tls_ca_file(settings: Settings) -> str | None:
    """The CA certificate file devices verify the broker with; devices use TLS when there is one."""
    return settings.device_tls_ca_file or settings.mqtt_tls_ca_file


def device_broker_port(settings: Settings) -> int:
    """The broker port given to devices: the TLS port when they use TLS."""
    if settings.device_mqtt_port:
        return settings.device_mqtt_port
    if settings.device_tls_ca_file and not settings.mqtt_tls_ca_file:
        return DEFAULT_TLS_PORT  # the controller itself uses plain MQTT on mqtt_port
    return settings.mqtt_port


def device_ca_pem(settings: Settings) -> str | None:
    """The CA certificate (PEM) to send to devices, or None when there is none to send.

    Read before the claim code is spent, so that a broken setting does not waste codes. A file
    over MAX_CA_PEM_BYTES is a system-wide bundle (the broker's certificate is from a public CA):
    it is not sent and devices verify the broker with their own system CA certificates.
    """
    path = device_tls_ca_file(settings)
    if not path:
        return None
    try:
        raw = Path(path).read_bytes()
        if len(raw) > MAX_CA_PEM_BYTES:
            log.warning("%s is %d bytes, too large to send to devices; they will verify the broker "
                        "with their system CA certificates", path, len(raw))
            return None
        x509.load_pem_x509_certificates(raw)
        return raw.decode("ascii")
    except (OSError, ValueError) as exc:
        log.error("cannot send the broker's CA certificate %s to devices: %s", path, exc)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the controller cannot read the broker's CA certificate; ask its operator to check "
            "LOALANG_DEVICE_TLS_CA_FILE / LOALANG_MQTT_TLS_CA_FILE",
        ) from None


async def _count_failure(services: Services, key: str) -> None:
    if await services.redis.incr(key) == 1:
        await services.redis.expire(key, WINDOW_S)


@router.post("/enroll", response_model=EnrollResponse, summary="Enrol a device with its claim code")
async def enroll(body: EnrollRequest, request: Request, services: ServicesDep) -> EnrollResponse:
    """Redeem a one-time claim code; the answer holds broker credentials and the root public key.

    When devices reach the broker over TLS, the answer also holds the CA certificate that
    verifies the broker (broker_ca_pem), unless that certificate is from a public CA.

    Twenty failed attempts from one address block it for ten minutes.
    """
    address = request.client.host if request.client else "unknown"
    failures_key = f"loa:enroll-failures:{address}"
    failures = int(await services.redis.get(failures_key) or 0)
    if failures >= MAX_FAILURES_PER_ADDRESS:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many failed enrolments; wait 10 minutes")
    settings = services.settings
    ca_pem = device_ca_pem(settings)
    try:
        result = await devices.enrol(services, body.code, body.public_key)
    except EnrolmentRefused:
        await _count_failure(services, failures_key)
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "claim code is not valid (unknown, used or expired)"
        ) from None
    except DeviceError as exc:
        await _count_failure(services, failures_key)
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return EnrollResponse(
        device_id=result.device_id, areas=result.areas, root_public_key=result.root_public_key,
        controller_url=settings.public_url,
        broker=BrokerCredentials(
            host=settings.device_mqtt_host or settings.mqtt_host,
            port=device_broker_port(settings),
            username=result.device_id, password=result.password, client_id=result.device_id,
            tls=bool(device_tls_ca_file(settings)), keepalive=settings.device_keepalive_s,
        ),
        broker_ca_pem=ca_pem,
    )
