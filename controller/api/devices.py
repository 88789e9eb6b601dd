"""Devices: register, list, get, move, configure, command, re-enrol and delete."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from .. import audit
from ..airtime.rules import Reach
from ..context import Services
from ..db.models import Device, Occurrence
from ..db.models import DeviceEvent as StoredEvent
from ..errors import DomainError
from ..fleet import broker_addresses, commands, devices, history
from ..fleet.areas import parent_map, subtree
from ..fleet.devices import IssuedCode
from ..fleet.playing import OnAir, Words, described
from ..presence import LiveState
from ..security.roles import Permission
from .deps import AirtimeDep, Principal, ServicesDep, ViewerDep, ensure_in_scope, require
from .schemas import (
    BrokerAddressesUpdate,
    ClaimCodePublic,
    CommandRequest,
    CommandSent,
    DeviceChange,
    DeviceCreate,
    DeviceCreated,
    DeviceEventPublic,
    DeviceMove,
    DevicePublic,
    DeviceSettingsUpdate,
    OnAirPublic,
    PresencePublic,
    SettingsApplied,
)

router = APIRouter(prefix="/devices", tags=["devices"])
REPLY_POLL_S = 0.25
Manager = Annotated[Principal, Depends(require(Permission.MANAGE_DEVICES))]
UPTIME_WINDOW_MS = 7 * 86_400_000
PAGE = 200  # devices read from the database (and their live state from Redis) at a time
Configurer = Annotated[Principal, Depends(require(Permission.CONFIGURE_DEVICES))]


def _ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


async def to_public(services: Services, device: Device) -> DevicePublic:
    """A device row joined with its live state from Redis, its uptime and its area's name."""
    live = (await services.presence.live([device.id]))[0]
    with services.db.session() as session:
        uptime = week_uptime(session, [device])
        words = described(session, [device], [live])
    return public_with(device, live, uptime.get(device.id), words)


def week_uptime(session: Session, devices: Sequence[Device]) -> dict[str, float]:
    """Uptime over the last 7 days (or since enrolment, when later) of the enrolled devices given."""
    now_ms = int(time.time() * 1000)
    windows = {d.id: max(now_ms - UPTIME_WINDOW_MS, int(d.enrolled_at.timestamp() * 1000)) for d in devices
               if d.enrolled_at is not None}
    return history.uptime_percent(session, windows, now_ms)


def public_with(device: Device, live: LiveState, uptime_pct: float | None = None,
                words: Words | None = None) -> DevicePublic:
    """A device row joined with the live state already read (and the words for it, when given)."""
    presence, reported, telemetry = live.presence, live.reported, live.telemetry
    words = words or Words()
    online = bool(presence and presence.online)
    return DevicePublic(
        id=device.id, name=device.name, area_id=device.area_id, latitude=device.latitude,
        longitude=device.longitude, is_test=device.is_test, enrolled=device.enrolled_at is not None,
        volume=device.volume, desired_version=device.desired_version,
        applied_version=reported.applied.device if reported else None,
        online=online,
        presence=PresencePublic(
            online=presence.online, boot=presence.boot, connection=presence.conn,
            install_id=presence.install_id, since=_ms(presence.since_ms),
            last_seen=_ms(presence.last_seen_ms), agent_version=presence.agent_version,
            connected_at=_ms(presence.connected_ms) if presence.connected_ms else None,
            offline_reason=presence.offline_reason,
        ) if presence else None,
        telemetry=telemetry, **_data_use(device.data_budget_mb, telemetry), uptime_7d_pct=uptime_pct,
        area_name=words.area_names.get(device.area_id),
        playing=_playing(live.playing, words.on_air, telemetry) if online else None,
        not_heard=words.not_heard.get(device.id),
    )


def _playing(occurrence_id: str | None, known: dict[str, OnAir], telemetry: dict[str, Any] | None
             ) -> OnAirPublic | None:
    """What plays, titled when the controller knows the occurrence."""
    if occurrence_id is None:
        return None
    item = known.get(occurrence_id)
    if item is not None:
        return OnAirPublic.model_validate(item)
    level = (telemetry or {}).get("playing_level")
    return OnAirPublic(occurrence_id=occurrence_id, title="", level=str(level or ""))


def _data_use(budget_mb: int | None, telemetry: dict[str, Any] | None) -> dict[str, Any]:
    used = (telemetry or {}).get("data_month_bytes")
    if not budget_mb or not isinstance(used, int):
        return {"data_budget_mb": budget_mb}
    percent = round(100 * used / (budget_mb * 1_000_000), 1)
    return {"data_budget_mb": budget_mb, "data_used_pct": percent, "data_warning": percent >= 80}


def _claim(services: Services, device_id: str, code: IssuedCode) -> ClaimCodePublic:
    return ClaimCodePublic(
        device_id=device_id, claim_code=code.code, expires_at=code.expires_at,
        enroll_command=(
            f"receiver-agent enroll --controller {services.settings.public_url} --code {code.code}"
        ),
    )


def _load(services: Services, principal: Principal, device_id: str) -> Device:
    with services.db.session() as session:
        device = session.get(Device, device_id)
    if device is None:
        raise DomainError("unknown_device", "no such device", 404)
    ensure_in_scope(principal, device.area_id)
    return device


@router.get("", response_model=list[DevicePublic], summary="List devices you can see")
async def list_devices(
    services: ServicesDep,
    principal: ViewerDep,
    area: Annotated[str | None, Query(max_length=48, description="only this area and below")] = None,
    online: Annotated[bool | None, Query(description="only online (true) or offline (false)")] = None,
    q: Annotated[str | None, Query(max_length=100, description="search in id and name")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[DevicePublic]:
    """Devices in the caller's scope, filtered by area subtree, presence and search text."""
    if area:
        ensure_in_scope(principal, area)
    with services.db.session() as session:
        query = select(Device).order_by(Device.id)
        if q:
            pattern = f"%{q}%"
            query = query.where(or_(Device.id.like(pattern), Device.name.like(pattern)))
        areas = subtree(parent_map(session), area) if area else principal.scope
        if areas is not None:
            query = query.where(Device.area_id.in_(sorted(areas)))
        result: list[DevicePublic] = []
        offset = 0
        batch = PAGE if online is not None else min(PAGE, limit)  # a presence filter skips some
        while len(result) < limit:
            page = session.scalars(query.offset(offset).limit(batch)).all()
            if not page:
                break
            offset += len(page)
            uptime = week_uptime(session, page)
            lives = await services.presence.live([d.id for d in page])
            words = described(session, page, lives)
            for device, live in zip(page, lives, strict=True):
                public = public_with(device, live, uptime.get(device.id), words)
                if online is None or public.online == online:
                    result.append(public)
    return result[:limit]


@router.post("", response_model=DeviceCreated, status_code=201, summary="Register a device")
async def create_device(body: DeviceCreate, services: ServicesDep, principal: Manager) -> DeviceCreated:
    """Register a device in an area; the answer holds its one-time claim code."""
    ensure_in_scope(principal, body.area_id)
    try:
        device, code = devices.register_device(
            services, principal.username, body.name, body.area_id, body.latitude, body.longitude,
            body.id, body.is_test,
        )
    except DomainError:
        raise
    except ValueError as exc:  # a name or id that makes no slug
        raise DomainError("bad_id", str(exc), 422, "id") from None
    return DeviceCreated(device=await to_public(services, device), claim=_claim(services, device.id, code))


@router.get("/{device_id}", response_model=DevicePublic, summary="Get one device")
async def get_device(device_id: str, services: ServicesDep, principal: ViewerDep) -> DevicePublic:
    """One device with its presence, telemetry and applied version."""
    return await to_public(services, _load(services, principal, device_id))


@router.post("/{device_id}/claim-code", response_model=ClaimCodePublic, summary="New claim code")
async def claim_code(device_id: str, services: ServicesDep, principal: Manager) -> ClaimCodePublic:
    """A new one-time code to (re-)enrol the device; using it revokes the old credentials."""
    _load(services, principal, device_id)
    code = devices.new_claim_code(services, principal.username, device_id)
    return _claim(services, device_id, code)


@router.post("/{device_id}/move", response_model=DevicePublic, summary="Move to another area")
async def move(device_id: str, body: DeviceMove, services: ServicesDep, principal: Manager) -> DevicePublic:
    """Move a device to another area in the caller's scope."""
    _load(services, principal, device_id)
    ensure_in_scope(principal, body.area_id)
    await devices.move_device(services, principal.username, device_id, body.area_id)
    return await to_public(services, _load(services, principal, device_id))


@router.patch("/{device_id}/settings", response_model=SettingsApplied, summary="Change settings")
async def change_settings(
    device_id: str, body: DeviceSettingsUpdate, services: ServicesDep, principal: Configurer
) -> SettingsApplied:
    """Change the device's volume; the answer holds the desired version to watch for."""
    _load(services, principal, device_id)
    version = await devices.set_volume(services, principal.username, device_id, body.volume)
    return SettingsApplied(device_id=device_id, desired_version=version)


@router.put("/{device_id}/broker-addresses", response_model=SettingsApplied,
            summary="Give a device the broker's addresses")
async def give_broker_addresses(
    device_id: str, body: BrokerAddressesUpdate, services: ServicesDep, principal: Manager
) -> SettingsApplied:
    """Send the device every node of the broker in its desired state; it writes them into its
    configuration and uses them from its next connection attempt. The answer holds the desired
    version to watch for."""
    _load(services, principal, device_id)
    given = [address.model_dump() for address in body.addresses]
    version = await broker_addresses.set_device_addresses(services, principal.username, device_id, given)
    return SettingsApplied(device_id=device_id, desired_version=version)


@router.post("/{device_id}/commands", response_model=CommandSent, status_code=202, summary="Send a command")
async def send_command(
    device_id: str, body: CommandRequest, services: ServicesDep, airtime: AirtimeDep, principal: Configurer
) -> CommandSent:
    """Send a signed maintenance command (ping, resync, ...); replies arrive asynchronously.

    The airtime gate decides (docs/airtime.md): a test tone of at most 10 s, and never inside
    quiet hours without quiet_override (which technicians may not give)."""
    _load(services, principal, device_id)
    command_id = await airtime.command(principal, Reach.DEVICE, device_id, body.name, body.args,
                                       body.quiet_override)
    return CommandSent(command_id=command_id)


@router.get("/{device_id}/commands/{command_id}", summary="A command's reply")
async def command_reply(
    device_id: str, command_id: str, services: ServicesDep, principal: ViewerDep,
    wait_s: Annotated[float, Query(ge=0, le=30, description="wait this long for the reply to arrive")] = 0,
) -> dict[str, object]:
    """The device's reply to a command, or 404 while none has arrived (after waiting up to wait_s)."""
    _load(services, principal, device_id)
    deadline = time.monotonic() + wait_s
    while (reply := (await commands.replies(services, command_id)).get(device_id)) is None:
        if time.monotonic() >= deadline:
            raise DomainError("no_reply_yet", "no reply yet", 404)
        await asyncio.sleep(REPLY_POLL_S)
    return reply


@router.get("/{device_id}/events", response_model=list[DeviceEventPublic], summary="Device events")
async def device_events(
    device_id: str,
    services: ServicesDep,
    principal: ViewerDep,
    type: Annotated[str | None, Query(max_length=48, description="only events of this type")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeviceEventPublic]:
    """The device's signed events, newest first; a receipt carries the title of what it played."""
    _load(services, principal, device_id)
    with services.db.session() as session:
        query = select(StoredEvent).where(StoredEvent.device_id == device_id)
        if type:
            query = query.where(StoredEvent.type == type)
        events = session.scalars(query.order_by(StoredEvent.id.desc()).limit(limit)).all()
        titles = _occurrence_titles(session, {str(e.data.get("occurrence")) for e in events})
    return [DeviceEventPublic.model_validate(event).model_copy(
        update={"title": titles.get(str(event.data.get("occurrence")))}) for event in events]


def _occurrence_titles(session: Session, occurrence_ids: set[str]) -> dict[str, str]:
    rows = session.execute(select(Occurrence.id, Occurrence.title).where(Occurrence.id.in_(occurrence_ids)))
    return {occurrence_id: title for occurrence_id, title in rows if title}


@router.delete("/{device_id}", status_code=204, summary="Delete a device")
async def delete(device_id: str, services: ServicesDep, principal: Manager) -> None:
    """Delete a device; its broker account is removed and its session cut at once."""
    _load(services, principal, device_id)
    await devices.delete_device(services, principal.username, device_id)


@router.patch("/{device_id}", response_model=DevicePublic, summary="Change a device's record")
async def change_device(device_id: str, body: DeviceChange, services: ServicesDep,
                        principal: Manager) -> DevicePublic:
    """Its name, whether it is a test device, its monthly data budget."""
    _load(services, principal, device_id)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name", "") is None or changes.get("is_test", False) is None:
        raise DomainError("null_not_allowed", "only data_budget_mb may be null", 422)
    with services.db.session() as session:
        device = session.get(Device, device_id)
        assert device is not None
        for name, value in changes.items():
            setattr(device, name, value)
        audit.record(session, principal.username, "device.change", [device_id],
                     **{k: str(v) for k, v in changes.items()})
    return await to_public(services, device)


@router.get("/{device_id}/telemetry", summary="Telemetry history, for charts")
async def telemetry_history(
    device_id: str, services: ServicesDep, principal: ViewerDep,
    from_ms: Annotated[int | None, Query(ge=0, le=2**53)] = None,
    to_ms: Annotated[int | None, Query(ge=0, le=2**53)] = None,
) -> list[dict[str, Any]]:
    """Samples kept every few minutes (default: the last 24 hours; history goes back 8 days)."""
    _load(services, principal, device_id)
    end = to_ms if to_ms is not None else int(time.time() * 1000)
    start = from_ms if from_ms is not None else end - 86_400_000
    with services.db.session() as session:
        return history.samples(session, device_id, start, end)


@router.get("/{device_id}/presence", summary="When the device came online and went offline")
async def device_presence(
    device_id: str, services: ServicesDep, principal: ViewerDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[dict[str, Any]]:
    """Its latest presence changes, newest first, each with the reason the broker or agent gave."""
    _load(services, principal, device_id)
    with services.db.session() as session:
        return history.presence_changes(session, device_id, limit)


@router.get("/{device_id}/uptime", summary="Uptime over the last days")
async def device_uptime(
    device_id: str, services: ServicesDep, principal: ViewerDep,
    days: Annotated[float, Query(gt=0, le=400)] = 7,
) -> dict[str, Any]:
    """The share of the period the device was online, from its presence changes."""
    _load(services, principal, device_id)
    end = int(time.time() * 1000)
    with services.db.session() as session:
        return history.uptime(session, device_id, end - int(days * 86_400_000), end)
