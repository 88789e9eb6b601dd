"""The gate: decide whether an ask for airtime may go ahead, from the rules table and the targets.

Pure decisions over the database (no publishing, no audit): the airtime service (service.py)
calls `check` or `check_command` and writes the audit entry of the decision either way.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from ..db.models import Bulletin, Device, MediaItem, User
from ..errors import DomainError
from ..fleet.areas import chain, parent_map, subtree
from ..fleet.policies import InheritedPolicies, QuietSpan
from ..fleet.quiet import span_in_quiet
from ..security.principal import Principal
from ..security.roles import Role
from . import rules
from .rules import Command, Level, Reach, Road, Verdict

MAX_TARGETS = 500
CONFIRMATION_POLICIES = ("password", "second_approver")  # weakest first
CONFIRM_FIELD = "confirm_password"


class Refused(DomainError):
    """The gate said no; code says why (stable), message says it in words."""


@dataclass(frozen=True)
class Ask:
    """One request for airtime: who asks, by which road, what (level, source), where and when.

    start_ms None means now; duration_ms 0 means not known yet (a live source).
    """

    who: Principal
    road: Road
    level: str
    area_ids: tuple[str, ...] = ()
    device_ids: tuple[str, ...] = ()
    source: str = "file"
    media_sha256: str | None = None
    bulletin_id: str | None = None
    start_ms: int | None = None
    duration_ms: int = 0
    quiet_override: bool = False
    confirm_password: str | None = field(default=None, repr=False)

    def described(self) -> dict[str, object]:
        """What the audit log keeps of the ask (never the password)."""
        return {"road": self.road.value, "level": self.level, "source": self.source,
                "areas": list(self.area_ids), "devices": list(self.device_ids),
                "media": self.media_sha256, "bulletin": self.bulletin_id, "start_ms": self.start_ms,
                "quiet_override": self.quiet_override}


@dataclass(frozen=True)
class Grant:
    """A yes: the areas whose policies applied, and the confirmation still to come, if any.

    confirmation is None (none needed, or the password was given) or `second_approver` (the
    broadcast or schedule waits for someone else's confirmation). When confirmed_by_password, the
    grant holds only once the airtime service has verified the ask's confirm_password against
    password_hash (off the event loop, within the limit of wrong passwords).
    """

    areas: tuple[str, ...]
    confirmation: str | None
    confirmed_by_password: bool = False
    password_hash: str | None = field(default=None, repr=False)


def check(session: Session, ask: Ask) -> Grant:
    """The decision for ask; raises Refused with the first reason found."""
    cell = _cell(ask)
    areas = policy_areas(session, ask.who, ask.area_ids, ask.device_ids)
    _check_content(session, ask)
    policies = InheritedPolicies(session)
    _check_quiet(policies, ask, areas)
    _check_approval(session, policies, ask, areas)
    if cell is Verdict.CONFIRM:
        return _confirmed(session, policies, ask, areas)
    return Grant(tuple(areas), None)


def _cell(ask: Ask) -> Verdict:
    cell = rules.verdict(ask.who.role, ask.road, ask.level)
    if cell is None:
        raise Refused("level_not_on_road", f"a {ask.road.value} cannot be at level {ask.level}", 422, "level")
    if cell is Verdict.NO:
        raise Refused("role_not_allowed", f"role {ask.who.role} may not put {ask.level} on the air by "
                      f"{ask.road.value}", 403)
    if ask.road in rules.WHOLE_TREE_ONLY and ask.who.scope is not None:
        raise Refused("whole_tree_only", f"a {ask.road.value} is for admins of the whole tree only", 403)
    return cell


def policy_areas(session: Session, who: Principal, area_ids: Iterable[str],
                 device_ids: Iterable[str]) -> list[str]:
    """Every area the targets reach (each target area with the areas below it, and each target
    device's area), once each target is checked to exist and lie in the caller's scope.

    Approval, confirmation and quiet hours are the policies of these areas: a village that asks
    for approval is not bypassed by addressing its commune.
    """
    area_ids, device_ids = sorted(set(area_ids)), sorted(set(device_ids))
    if not area_ids and not device_ids:
        raise Refused("no_target", "give at least one target area or device", 422, "area_ids")
    if len(area_ids) + len(device_ids) > MAX_TARGETS:
        raise Refused("too_many_targets", f"at most {MAX_TARGETS} targets", 422, "area_ids")
    parents = parent_map(session)
    reached: set[str] = set()
    for area_id in area_ids:
        if area_id not in parents:
            raise Refused("unknown_area", f"no such area {area_id}", 422, "area_ids")
        if not who.can_see(area_id):
            raise Refused("outside_scope", f"area {area_id} is outside your area", 403, "area_ids")
        reached |= subtree(parents, area_id)
    for device_id in device_ids:
        device = session.get(Device, device_id)
        if device is None:
            raise Refused("unknown_device", f"no such device {device_id}", 422, "device_ids")
        if not who.can_see(device.area_id):
            raise Refused("outside_scope", f"device {device_id} is outside your area", 403, "device_ids")
        reached.add(device.area_id)
    return sorted(reached)


def _check_content(session: Session, ask: Ask) -> None:
    """The file must be one the caller may use; the bulletin one of its scope, approved."""
    if ask.media_sha256 is not None:
        item = session.get(MediaItem, ask.media_sha256)
        if item is None:
            raise Refused("unknown_media", "no such media in the library", 422, "media_sha256")
        if not media_usable(session, ask.who, item.area_id):
            raise Refused("outside_scope", "the file belongs to another area", 403, "media_sha256")
    if ask.bulletin_id is not None:
        bulletin = session.get(Bulletin, ask.bulletin_id)
        if bulletin is None or not ask.who.can_see(bulletin.area_id):
            raise Refused("unknown_bulletin", "no such bulletin", 404, "bulletin_id")
        if bulletin.status != "approved":
            raise Refused("bulletin_not_approved", f"the bulletin is {bulletin.status}, not approved", 409,
                          "bulletin_id")


def media_usable(session: Session, who: Principal, owner_area: str | None) -> bool:
    """A file of the shared library, of the caller's subtree or of an area above the caller's."""
    if who.scope is None or owner_area is None or owner_area in who.scope:
        return True
    return who.area_id is not None and owner_area in chain(parent_map(session), who.area_id)


def _check_quiet(policies: InheritedPolicies, ask: Ask, areas: list[str]) -> None:
    """An override only by roles that may; a play now or at a time inside quiet hours needs one."""
    if ask.road in rules.ALWAYS_OVERRIDES_QUIET:
        return
    if ask.quiet_override and not _may_override_quiet(ask.who.role):
        raise Refused("quiet_override_not_allowed", f"role {ask.who.role} may not override quiet hours",
                      403, "quiet_override")
    if ask.level == Level.EMERGENCY or ask.quiet_override or ask.road is Road.SCHEDULE:
        return  # a schedule's every play is checked against quiet hours where it is made
    start = ask.start_ms if ask.start_ms is not None else int(time.time() * 1000)
    end = start + max(ask.duration_ms, 1)
    first_area: dict[QuietSpan, str] = {}
    for area_id in areas:  # most areas inherit the same hours: each distinct span is checked once
        first_area.setdefault(policies.quiet(area_id), area_id)
    for quiet, area_id in first_area.items():
        if span_in_quiet(start, end, quiet.start, quiet.end, ZoneInfo(quiet.timezone)):
            raise Refused("quiet_hours", f"{area_id} is in its quiet hours ({quiet.start}-{quiet.end}, "
                          f"{quiet.timezone}); set quiet_override to play anyway", 422, "quiet_override")


def _may_override_quiet(role: str) -> bool:
    try:
        return Role(role) in rules.QUIET_OVERRIDE_ROLES
    except ValueError:
        return False


def _check_approval(session: Session, policies: InheritedPolicies, ask: Ask, areas: list[str]) -> None:
    """Below live, each target area that asks for approval gets only a bulletin an approver approved."""
    if ask.road not in rules.APPROVAL_ROADS or ask.level not in rules.APPROVAL_LEVELS:
        return
    asking = [area for area in areas if policies.value(area, "approval") == "required"]
    if not asking:
        return
    bulletin = session.get(Bulletin, ask.bulletin_id) if ask.bulletin_id else None
    if bulletin is None or not bulletin.reviewed:
        named = ", ".join(asking[:10]) + (f" and {len(asking) - 10} more" if len(asking) > 10 else "")
        raise Refused("approval_required", f"{named} require approval: air a bulletin an approver approved",
                      403, "bulletin_id")


def confirmation_policy(policies: InheritedPolicies, areas: Iterable[str]) -> str:
    """`password` or `second_approver`: the strictest emergency confirmation among the areas."""
    found = {str(policies.value(area, "emergency_confirm") or "password") for area in areas}
    return max(found or {"password"}, key=CONFIRMATION_POLICIES.index)


def _confirmed(session: Session, policies: InheritedPolicies, ask: Ask, areas: list[str]) -> Grant:
    policy = confirmation_policy(policies, areas)
    if policy == "second_approver":
        if ask.road is Road.OCCURRENCE:
            raise Refused("second_approver_required", "these areas confirm by a second approver: use "
                          "broadcast now", 409)
        return Grant(tuple(areas), "second_approver")
    user = session.get(User, ask.who.user_id) if ask.who.user_id is not None else None
    if user is None:
        raise Refused("password_confirmation_impossible", "an API client cannot confirm by password", 403)
    if not ask.confirm_password:
        raise Refused("confirmation_required", f"confirm the {ask.level} with your password", 403,
                      CONFIRM_FIELD)
    return Grant(tuple(areas), None, confirmed_by_password=True, password_hash=user.password_hash)


def wrong_confirmation() -> Refused:
    """The refusal of a confirmation password that does not match."""
    return Refused("confirmation_wrong", "the confirmation password is wrong", 403, CONFIRM_FIELD)


def check_command(session: Session, who: Principal, reach: Reach, target: str, name: str,
                  seconds: float | None, quiet_override: bool) -> list[str]:
    """The decision for a command to one device or an area; returns the areas it reaches, or raises
    Refused."""
    try:
        command = Command(name)
    except ValueError:
        raise Refused("unknown_command", f"unknown command {name}", 422, "name") from None
    if not rules.command_allowed(who.role, reach, command):
        where = "a device" if reach is Reach.DEVICE else "an area"
        raise Refused("role_not_allowed", f"role {who.role} may not send {name} to {where}", 403, "name")
    areas = policy_areas(session, who, [target] if reach is Reach.AREA else [],
                         [target] if reach is Reach.DEVICE else [])
    if command is Command.TEST_TONE and seconds is not None and not 0 < seconds <= rules.MAX_TEST_TONE_S:
        raise Refused("test_tone_too_long", f"a test tone lasts at most {rules.MAX_TEST_TONE_S:.0f} s",
                      422, "args")
    if command in (Command.TEST_TONE, Command.CHIME):
        sounding_s = rules.CHIME_S if command is Command.CHIME else seconds or 1.0
        _check_quiet(InheritedPolicies(session), Ask(who, Road.BROADCAST, Level.NORMAL, duration_ms=int(
            sounding_s * 1000), quiet_override=quiet_override), areas)
    return areas
