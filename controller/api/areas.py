"""Areas: the tree of provinces, regions, communes and villages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import select

from .. import audit
from ..airtime.rules import Reach
from ..context import Services
from ..db.models import Area, Device
from ..errors import DomainError
from ..fleet import area_updates, broker_addresses, commands
from ..fleet.areas import create_area, visible
from ..fleet.policies import InheritedPolicies
from ..security.roles import Permission
from .deps import AirtimeDep, Principal, ServicesDep, ViewerDep, ensure_in_scope, require
from .schemas import (
    AreaCreate,
    AreaPublic,
    AreaUpdate,
    BrokerAddressesGiven,
    BrokerAddressesUpdate,
    CommandRequest,
    CommandSent,
)

router = APIRouter(prefix="/areas", tags=["areas"])


@router.get("", response_model=list[AreaPublic], summary="List the areas you can see")
async def list_areas(services: ServicesDep, principal: ViewerDep) -> list[AreaPublic]:
    """Every area in the caller's subtree, parents before children."""
    with services.db.session() as session:
        areas = session.scalars(select(Area).order_by(Area.id)).all()
        policies = InheritedPolicies(session)
        return [described(area, policies) for area in visible(areas, principal.scope)]


def described(area: Area, policies: InheritedPolicies) -> AreaPublic:
    """An area as the API shows it, with the approval policy in force there."""
    public = AreaPublic.model_validate(area)
    public.approval_required = policies.value(area.id, "approval") == "required"
    return public


def _described_one(services: Services, area: Area) -> AreaPublic:
    with services.db.session() as session:
        return described(area, InheritedPolicies(session))


@router.post("", response_model=AreaPublic, status_code=201, summary="Create an area")
async def add_area(
    body: AreaCreate,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require(Permission.MANAGE_AREAS))],
) -> AreaPublic:
    """Create an area under a parent inside the caller's scope (a root only for unscoped admins)."""
    if body.parent_id is None and principal.scope is not None:
        raise DomainError("whole_tree_only", "only an admin of the whole tree may add a root", 403,
                          "parent_id")
    if body.parent_id is not None:
        ensure_in_scope(principal, body.parent_id)
    fields = body.model_dump(exclude={"name", "level", "parent_id", "id"})
    fields["geocodes"] = fields.get("geocodes") or []
    try:
        with services.db.session() as session:
            area = create_area(session, body.name, body.level, body.parent_id, body.id, **fields)
            audit.record(session, principal.username, "area.create", [area.id], parent=body.parent_id)
    except DomainError:
        raise
    except ValueError as exc:  # a name or id that makes no slug
        raise DomainError("bad_id", str(exc), 422, "id") from None
    return _described_one(services, area)


@router.patch("/{area_id}", response_model=AreaPublic, summary="Change an area")
async def change_area(
    area_id: str,
    body: AreaUpdate,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require(Permission.MANAGE_AREAS))],
) -> AreaPublic:
    """Rename an area or change its time zone or quiet hours; the areas below follow at once."""
    ensure_in_scope(principal, area_id)
    changes = body.model_dump(exclude_unset=True)
    if "geocodes" in changes:
        changes["geocodes"] = changes["geocodes"] or []
    area = await area_updates.update_area(services, principal.username, area_id, changes)
    return _described_one(services, area)


@router.get("/{area_id}", response_model=AreaPublic, summary="Get one area")
async def get_area(area_id: str, services: ServicesDep, principal: ViewerDep) -> AreaPublic:
    """One area in the caller's scope."""
    with services.db.session() as session:
        area = session.get(Area, area_id)
    if area is None:
        raise DomainError("unknown_area", "no such area", 404)
    ensure_in_scope(principal, area_id)
    return _described_one(services, area)


@router.put("/{area_id}/broker-addresses", response_model=BrokerAddressesGiven,
            summary="Give every device of an area and those below it the broker's addresses")
async def give_broker_addresses(
    area_id: str,
    body: BrokerAddressesUpdate,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require(Permission.MANAGE_DEVICES))],
) -> BrokerAddressesGiven:
    """Send each device below the area every node of the broker in its desired state (see the same
    call on one device)."""
    ensure_in_scope(principal, area_id)
    given = [address.model_dump() for address in body.addresses]
    device_ids = await broker_addresses.set_area_addresses(services, principal.username, area_id, given)
    return BrokerAddressesGiven(device_ids=device_ids)


@router.post("/{area_id}/commands", response_model=CommandSent, status_code=202,
             summary="Send a command to every device in an area")
async def area_command(
    area_id: str,
    body: CommandRequest,
    airtime: AirtimeDep,
    principal: Annotated[Principal, Depends(require(Permission.CONFIGURE_DEVICES))],
) -> CommandSent:
    """Publish a signed command once to the area's topic; every device below it receives it.

    The airtime gate decides (docs/airtime.md): a test tone or the amplifier only by operators and
    admins, a test tone inside quiet hours only with quiet_override."""
    command_id = await airtime.command(principal, Reach.AREA, area_id[:48], body.name, body.args,
                                       body.quiet_override)
    return CommandSent(command_id=command_id)


@router.get("/{area_id}/commands/{command_id}", summary="Replies to an area command")
async def area_command_replies(
    area_id: str, command_id: str, services: ServicesDep, principal: ViewerDep
) -> dict[str, dict[str, object]]:
    """Replies received so far, by device (only devices in the caller's scope)."""
    ensure_in_scope(principal, area_id)
    with services.db.session() as session:
        rows = session.execute(select(Device.id, Device.area_id))
        in_scope = {device_id for device_id, device_area in rows if principal.can_see(device_area)}
    return {d: r for d, r in (await commands.replies(services, command_id)).items() if d in in_scope}
