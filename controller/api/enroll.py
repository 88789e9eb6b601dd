"""Enrolment: a device redeems its claim code with its public key."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request

from loalang_protocol.mqtt import NotConnected

from ..broker_accounts.base import BrokerLogin, BrokerUnavailable
from ..context import Services
from ..errors import DomainError
from ..fleet import broker_endpoint, devices
from ..fleet.devices import DeviceError, EnrolmentRefused
from ..security.client_address import client_address
from ..security.device_auth import authenticated_device
from ..settings import Settings
from .deps import ServicesDep
from .schemas import BrokerAddressOut, BrokerCredentials, EnrollRequest, EnrollResponse

log = logging.getLogger(__name__)

router = APIRouter(tags=["enrolment"])

MAX_FAILURES_PER_ADDRESS = 20  # failed attempts only: a workshop may enrol hundreds of boards
WINDOW_S = 600
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
    address = client_address(request, services.settings)
    failures_key = f"loa:enroll-failures:{address}"
    failures = int(await services.redis.get(failures_key) or 0)
    if failures >= MAX_FAILURES_PER_ADDRESS:
        raise DomainError("too_many_enrolments", "too many failed enrolments; wait 10 minutes", 429,
                          retry_after_s=600)
    settings = services.settings
    try:
        ca_pem = broker_endpoint.device_ca_pem(settings)
    except broker_endpoint.BrokerEndpointError as exc:
        log.error("enrolment refused: %s", exc)
        raise DomainError("broker_not_configured", "the controller cannot read the broker's CA certificate",
                          503) from None
    try:
        result = await devices.enrol(services, body.code, body.public_key)
    except EnrolmentRefused:
        await _count_failure(services, failures_key)
        raise DomainError("claim_code_invalid", "claim code is not valid (unknown, used or expired)", 403,
                          "code") from None
    except DeviceError:
        await _count_failure(services, failures_key)
        raise
    except (NotConnected, TimeoutError, BrokerUnavailable):
        raise DomainError("broker_unreachable", "the broker cannot be reached just now; the claim code is "
                          "still valid, try again in a minute", 503, retry_after_s=30) from None
    return EnrollResponse(
        device_id=result.device_id, areas=result.areas, root_public_key=result.root_public_key,
        controller_url=settings.public_url, broker=_credentials(settings, result.login), broker_ca_pem=ca_pem,
    )


@router.post("/devices/{device_id}/broker-login", response_model=BrokerCredentials,
             summary="A device the broker refused asks for a new login")
async def renew_broker_login(device_id: str, request: Request, services: ServicesDep) -> BrokerCredentials:
    """Signed by the device's key like every device request. On a NATS cluster a login carries the
    device's area grants, so after a move the broker refuses the old one and the agent asks here;
    the earlier login stops working. At most one renewal every 30 s per device."""
    device = authenticated_device(request, services, await request.body())
    if device.id != device_id:
        raise DomainError("not_own_login", "a device may renew only its own broker login", 403)
    try:
        login = await devices.renew_broker_login(services, device_id)
    except (NotConnected, TimeoutError, BrokerUnavailable):
        raise DomainError("broker_unreachable", "the broker cannot be reached just now; try again in a "
                          "minute", 503, retry_after_s=30) from None
    return _credentials(services.settings, login)


def _credentials(settings: Settings, login: BrokerLogin) -> BrokerCredentials:
    first = broker_endpoint.device_broker_address(settings)
    return BrokerCredentials(
        host=first.host, port=first.port,
        addresses=[BrokerAddressOut(host=a.host, port=a.port) for a in settings.device_addresses()],
        username=login.username, password=login.password, client_id=login.client_id,
        tls=bool(broker_endpoint.device_tls_ca_file(settings)), keepalive=settings.device_keepalive_s,
    )
