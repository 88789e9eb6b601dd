"""Use cases on devices: register, claim code, enrol, move, configure, delete."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loalang_protocol.keys import b64decode, key_id, public_from_text
from loalang_protocol.slugs import check_slug, slugify

from .. import audit
from ..broker_accounts.base import BrokerLogin, DeviceAccount
from ..context import Services
from ..db.models import Area, ClaimCode, Device
from ..errors import DomainError
from . import claim_codes, desired, device_keys
from .areas import chain, parent_map, unique_id

log = logging.getLogger(__name__)


class DeviceError(DomainError):
    """A device request cannot be carried out; code and message say why."""

    def __init__(self, code: str, message: str, status: int = 422, field: str | None = None) -> None:
        super().__init__(code, message, status, field)


class EnrolmentRefused(PermissionError):
    """A claim code is unknown, used or expired (one message for all, so codes cannot be probed)."""


@dataclass(frozen=True)
class IssuedCode:
    """A claim code shown once to the admin."""

    code: str
    expires_at: datetime


@dataclass(frozen=True)
class Enrolment:
    """What a device receives when it enrols."""

    device_id: str
    login: BrokerLogin
    areas: list[str]
    root_public_key: str


def issue_claim_code(session: Session, device: Device, ttl_s: int, root_public_key: str) -> IssuedCode:
    """Make a new one-time code for device, naming root_public_key; earlier unused codes stop working."""
    now = datetime.now(UTC)
    session.execute(
        update(ClaimCode).where(ClaimCode.device_id == device.id, ClaimCode.used_at.is_(None))
        .values(expires_at=now)
    )
    code = claim_codes.new_code(root_public_key)
    expires = now + timedelta(seconds=ttl_s)
    session.add(ClaimCode(device_id=device.id, code_hash=claim_codes.code_hash(code), expires_at=expires))
    return IssuedCode(code, expires)


def register_device(
    services: Services, actor: str, name: str, area_id: str, latitude: float | None, longitude: float | None,
    device_id: str | None = None, is_test: bool = False,
) -> tuple[Device, IssuedCode]:
    """Create a device in an area and its first claim code; its position is both coordinates or none."""
    if (latitude is None) != (longitude is None):
        missing = "latitude" if latitude is None else "longitude"
        raise DeviceError("position_incomplete", "give both latitude and longitude, or neither",
                          field=missing)
    with services.db.session() as session:
        if session.get(Area, area_id) is None:
            raise DeviceError("unknown_area", f"area {area_id!r} does not exist", field="area_id")
        if device_id is not None:
            check_slug(device_id, "device id")
            if session.get(Device, device_id) is not None:
                raise DeviceError("device_exists", f"device {device_id!r} already exists", field="id")
        else:
            device_id = unique_id(session, slugify(name), Device)
        device = Device(id=device_id, name=name, area_id=area_id, latitude=latitude, longitude=longitude,
                        is_test=is_test, volume=70, desired_version=0)
        session.add(device)
        session.flush()
        code = issue_claim_code(session, device, services.settings.claim_code_ttl_s,
                                services.keyring.root_public)
        audit.record(session, actor, "device.create", [device_id], area=area_id)
    return device, code


def new_claim_code(services: Services, actor: str, device_id: str) -> IssuedCode:
    """Issue a fresh claim code for re-enrolment."""
    with services.db.session() as session:
        device = session.get(Device, device_id)
        if device is None:
            raise DeviceError("unknown_device", f"device {device_id!r} does not exist", 404)
        code = issue_claim_code(session, device, services.settings.claim_code_ttl_s,
                                services.keyring.root_public)
        audit.record(session, actor, "device.claim_code", [device_id])
    return code


def _redeem(session: Session, code: str) -> Device:
    now = datetime.now(UTC)
    claim = session.scalars(
        select(ClaimCode).where(ClaimCode.code_hash == claim_codes.code_hash(code)).with_for_update()
    ).first()
    expires = claim.expires_at.replace(tzinfo=claim.expires_at.tzinfo or UTC) if claim else None
    if claim is None or claim.used_at is not None or expires is None or expires <= now:
        raise EnrolmentRefused("claim code is not valid")
    claim.used_at = now
    device = session.get(Device, claim.device_id)
    if device is None:
        raise EnrolmentRefused("claim code is not valid")
    return device


async def enrol(services: Services, code: str, public_key: str) -> Enrolment:
    """Redeem a claim code: bind the device's key, give it fresh broker credentials, revoke old ones.

    The broker account is made before the code is spent, so a broker failure leaves the code
    usable; a Redis lock keeps two requests from redeeming one code at the same time. No
    database transaction stays open while the broker is asked.
    """
    try:
        public_from_text(public_key)
    except ValueError as exc:
        raise DeviceError("bad_public_key", f"public_key is not an Ed25519 public key: {exc}",
                          field="public_key") from None
    kid = key_id(b64decode(public_key))
    with services.db.session() as session:
        device = _redeem(session, code)  # checked here, spent below, after the broker agreed
        device_id = device.id
        areas = chain(parent_map(session), device.area_id)
        enrolled_before = device.enrolment_count > 0
        session.rollback()
    lock = f"loa:claiming:{claim_codes.code_hash(code)}"
    if not await services.redis.set(lock, device_id, nx=True, ex=60):
        raise EnrolmentRefused("claim code is being used")
    try:
        login = await services.accounts.provision_device(DeviceAccount(
            device_id, secrets.token_urlsafe(32), tuple(areas), replaces_earlier=enrolled_before))
        with services.db.session() as session:
            device = _redeem(session, code)
            device.public_key = public_key
            device.key_id = kid
            device.enrolled_at = datetime.now(UTC)
            device_keys.start_key(session, device_id, public_key, kid, device.enrolled_at)
            device.enrolment_count += 1
            device.desired_version += 1
            audit.record(session, f"device:{device_id}", "device.enrol", [device_id], key_id=kid)
    finally:
        await services.redis.delete(lock)
    await desired.publish_device(services, device_id)
    log.info("device %s: enrolled with key %s", device_id, kid)
    return Enrolment(device_id, login, areas, services.keyring.root_public)


LOGIN_RENEWAL_INTERVAL_S = 30  # a device refused again and again cannot keep the broker busy


async def renew_broker_login(services: Services, device_id: str) -> BrokerLogin:
    """A new broker login for an enrolled device the broker refused (on NATS after a move, whose area
    grants are in the login; on either broker after its account was lost). The earlier login stops
    working. At most one every LOGIN_RENEWAL_INTERVAL_S."""
    with services.db.session() as session:
        device = _get(session, device_id)
        if device.enrolled_at is None:
            raise DeviceError("device_not_enrolled", f"device {device_id} is not enrolled", 409)
        areas = chain(parent_map(session), device.area_id)
    renewal = f"loa:login-renewal:{device_id}"
    if not await services.redis.set(renewal, "1", nx=True, ex=LOGIN_RENEWAL_INTERVAL_S):
        raise DeviceError("login_renewed_recently", "this device's broker login was renewed moments ago; "
                          "try again later", 429)
    login = await services.accounts.provision_device(DeviceAccount(device_id, secrets.token_urlsafe(32),
                                                                   tuple(areas)))
    log.info("device %s: broker login renewed", device_id)
    return login


async def set_volume(services: Services, actor: str, device_id: str, volume: int) -> int:
    """Change a device's volume; returns the new desired version."""
    with services.db.session() as session:
        device = _get(session, device_id)
        device.volume = volume
        device.desired_version += 1
        version = device.desired_version
        audit.record(session, actor, "device.volume", [device_id], volume=volume, version=version)
    await desired.publish_device(services, device_id)
    return version


async def move_device(services: Services, actor: str, device_id: str, area_id: str) -> None:
    """Move a device to another area: new broker permissions, new desired state."""
    with services.db.session() as session:
        device = _get(session, device_id)
        if session.get(Area, area_id) is None:
            raise DeviceError("unknown_area", f"area {area_id!r} does not exist", field="area_id")
        old_area = device.area_id
        device.area_id = area_id
        device.desired_version += 1
        areas = chain(parent_map(session), area_id)
        enrolled = device.enrolled_at is not None
        audit.record(session, actor, "device.move", [device_id], from_area=old_area, to_area=area_id)
    if enrolled:
        await services.accounts.update_device_areas(device_id, tuple(areas))
        await desired.publish_device(services, device_id)


async def delete_device(services: Services, actor: str, device_id: str) -> None:
    """Delete a device: its broker account goes first, which cuts its session (a device that never
    enrolled has none: no broker account is touched)."""
    with services.db.session() as session:
        enrolled = _get(session, device_id).enrolled_at is not None
    if enrolled:
        await services.accounts.revoke_device(device_id)
    await desired.clear_device(services, device_id)
    await services.presence.forget(device_id)
    with services.db.session() as session:
        device = _get(session, device_id)
        session.delete(device)
        device_keys.end_keys(session, device_id, datetime.now(UTC))
        audit.record(session, actor, "device.delete", [device_id])


def _get(session: Session, device_id: str) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise DeviceError("unknown_device", f"device {device_id!r} does not exist", 404)
    return device
