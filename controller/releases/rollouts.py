"""Staged rollouts: a release offered to a few devices, then more, stage by stage, halted by itself
when a stage fails.

A rollout names a release and its targets (areas, whose enrolled devices it takes, and devices);
its stages say how many devices have been offered the release by each stage's end (`1`, `"5%"`,
`"25%"`, `"100%"`). A stage's devices are offered the release through their signed desired state
(`release`); each device is then judged by what it reports: healthy when it says `update-completed`
for the release (it came back on it, connected, verified its desired state, its playout running),
failed when it says `update-rolled-back`, `update-refused`, or nothing within the allowance (the
quiet gap it waits for, its install and the gate of each of the launcher's starts). When every device
of the stage is judged, the next stage starts, unless more than `max_failures` failed: then the
rollout halts and says why. An operator may pause (no new stage starts), resume, or roll back (each
device offered the release is offered the one it ran before, when the controller holds it).

Every controller runs the driver; each step is one transaction whose changes are guarded by the
states they leave, so two controllers at once offer and judge each device once.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..context import Services
from ..db.models import AgentRelease, Area, Device, DeviceEvent, Rollout, RolloutDevice
from ..errors import DomainError
from ..fleet.areas import parent_map, subtree
from ..fleet.desired import publish_device
from ..periodic import every
from ..presence import PresenceStore
from ..redis_client import UNREACHABLE

log = logging.getLogger(__name__)

STEP_S = 5.0
MAX_STAGES = 10
INSTALL_ALLOWANCE_S = 3600  # a quiet gap to wait for, a download over 4G, an install on a slow card
LAUNCHER_STARTS = 3  # launcher.MAX_STARTS: each start may use the whole gate
FAILED = ("update-rolled-back", "update-refused")
ACTIVE = ("running", "paused")


@dataclass(frozen=True)
class RolloutRequest:
    """What an operator asks for."""

    release: str
    areas: list[str]
    devices: list[str]
    stages: list[int | str]
    gate_s: int
    max_failures: int


def create(services: Services, request: RolloutRequest, actor: str) -> Rollout:
    """Start a rollout: its devices are fixed now, ordered and placed in stages."""
    with services.db.session() as session:
        release = session.get(AgentRelease, request.release)
        if release is None:
            raise DomainError("unknown_release", f"no release {request.release!r}", 404, "release")
        device_ids = _targets(session, request)
        busy = session.scalars(select(RolloutDevice.device_id).join(Rollout).where(
            Rollout.state.in_(ACTIVE), RolloutDevice.device_id.in_(device_ids))).first()
        if busy is not None:
            raise DomainError("device_in_rollout", f"{busy} is in a rollout that has not ended", 409,
                              "devices")
        stages = stage_sizes(request.stages, len(device_ids))
        rollout = Rollout(id=f"r-{secrets.token_hex(6)}", release_version=release.version,
                          targets={"areas": request.areas, "devices": request.devices}, stages=stages,
                          gate_s=request.gate_s, max_failures=request.max_failures, state="running", stage=0,
                          reason="", created_by=actor)
        session.add(rollout)
        session.flush()
        for position, device_id in enumerate(sorted(device_ids, key=_spread)):
            stage = next(i for i, size in enumerate(stages) if position < size)
            session.add(RolloutDevice(rollout_id=rollout.id, device_id=device_id, stage=stage,
                                      from_version="", state="waiting", detail=""))
        audit.record(session, actor, "rollout.create", [rollout.id, *device_ids[:20]],
                     release=release.version, stages=stages, gate_s=request.gate_s,
                     max_failures=request.max_failures)
    log.info("rollout %s of %s to %s devices in stages %s", rollout.id, release.version, len(device_ids),
             stages)
    return rollout


def stage_sizes(stages: list[int | str], total: int) -> list[int]:
    """Each stage's cumulative device count; the last takes everyone."""
    if not 1 <= len(stages) <= MAX_STAGES:
        raise DomainError("invalid_stages", f"give 1 to {MAX_STAGES} stages", 422, "stages")
    sizes = []
    for stage in stages:
        if isinstance(stage, int) and not isinstance(stage, bool) and stage >= 1:
            size = stage
        elif isinstance(stage, str) and stage.endswith("%") and _percent(stage[:-1]) is not None:
            size = math.ceil(total * (_percent(stage[:-1]) or 0) / 100)
        else:
            raise DomainError("invalid_stages", f"{stage!r} is neither a device count nor a percentage",
                              422, "stages")
        sizes.append(max(1, min(total, size)))
    if sizes != sorted(sizes):
        raise DomainError("invalid_stages", "each stage must reach at least as many devices as the one "
                                            "before", 422, "stages")
    sizes[-1] = total
    return sizes


def _percent(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 < value <= 100 else None


def _targets(session: Session, request: RolloutRequest) -> list[str]:
    found: set[str] = set()
    parents = parent_map(session)
    for area_id in request.areas:
        if session.get(Area, area_id) is None:
            raise DomainError("unknown_area", f"no area {area_id!r}", 404, "areas")
        found |= set(session.scalars(select(Device.id).where(
            Device.area_id.in_(subtree(parents, area_id)), Device.public_key.is_not(None))))
    for device_id in request.devices:
        device = session.get(Device, device_id)
        if device is None or device.public_key is None:
            raise DomainError("unknown_device", f"no enrolled device {device_id!r}", 404, "devices")
        found.add(device_id)
    if not found:
        raise DomainError("rollout_no_devices", "no enrolled device in these targets", 422, "areas")
    return sorted(found)


def _spread(device_id: str) -> str:
    """The order devices enter stages: stable, and not the alphabet (a first stage of one village)."""
    return hashlib.sha256(device_id.encode()).hexdigest()


async def _versions(presence: PresenceStore, device_ids: Iterable[str]) -> dict[str, str]:
    """The agent version each device last reported."""
    versions = {}
    for device_id in device_ids:
        found = await presence.get(device_id)
        if found is not None:
            versions[device_id] = found.agent_version
    return versions


# -- the driver ----------------------------------------------------------------------------------

async def driver(services: Services) -> None:
    """Advance every running rollout, forever."""
    await every(STEP_S, lambda: step(services), "rollouts", quiet=UNREACHABLE)


async def step(services: Services) -> None:
    """One round: offer, judge, and move stages on; then publish what changed."""
    with services.db.session() as session:
        ids = list(session.scalars(select(Rollout.id).where(Rollout.state == "running")))
    for rollout_id in ids:
        versions = await _versions(services.presence, _waiting(services, rollout_id))
        for device_id in _advance(services, rollout_id, versions):
            await publish_device(services, device_id)


def _waiting(services: Services, rollout_id: str) -> list[str]:
    """The devices of the rollout's current stage not offered the release yet."""
    with services.db.session() as session:
        return list(session.scalars(select(RolloutDevice.device_id).join(Rollout).where(
            RolloutDevice.rollout_id == rollout_id, RolloutDevice.stage == Rollout.stage,
            RolloutDevice.state == "waiting")))


def _advance(services: Services, rollout_id: str, versions: dict[str, str]) -> list[str]:
    """Move one rollout on; returns the devices whose desired state changed."""
    now_ms = int(time.time() * 1000)
    with services.db.session() as session:
        rollout = session.get(Rollout, rollout_id, with_for_update=True)
        if rollout is None or rollout.state != "running":
            return []
        members = list(session.scalars(select(RolloutDevice).where(
            RolloutDevice.rollout_id == rollout_id, RolloutDevice.stage == rollout.stage)))
        offered = [m.device_id for m in members
                   if m.state == "waiting" and _offer(session, rollout, m, versions, now_ms)]
        for member in members:
            if member.state == "offered":
                _judge(session, rollout, member, now_ms)
        if all(m.state in ("healthy", "failed") for m in members):
            _end_stage(session, rollout, members)
    return offered


def _offer(session: Session, rollout: Rollout, member: RolloutDevice, versions: dict[str, str],
           now_ms: int) -> bool:
    device = session.get(Device, member.device_id)
    member.offered_ms, member.from_version = now_ms, versions.get(member.device_id, "")
    if device is None:
        member.state, member.done_ms, member.detail = "failed", now_ms, "the device was deleted"
        return False
    device.release_version, device.release_gate_s = rollout.release_version, rollout.gate_s
    device.desired_version += 1
    if member.from_version == rollout.release_version:  # it runs the release already: nothing to prove
        member.state, member.done_ms = "healthy", now_ms
    else:
        member.state = "offered"
    return True


def _judge(session: Session, rollout: Rollout, member: RolloutDevice, now_ms: int) -> None:
    since = datetime.fromtimestamp((member.offered_ms or 0) / 1000, UTC)
    for event in session.scalars(select(DeviceEvent).where(
            DeviceEvent.device_id == member.device_id, DeviceEvent.received_at >= since,
            DeviceEvent.type.in_(("update-completed", *FAILED))).order_by(DeviceEvent.id)):
        if event.data.get("version") != rollout.release_version:
            continue
        healthy = event.type == "update-completed"
        member.state, member.done_ms = ("healthy" if healthy else "failed"), now_ms
        member.detail = "" if healthy else f"{event.type}: {event.data.get('reason', '')}"[:300]
        return
    allowance_ms = (INSTALL_ALLOWANCE_S + LAUNCHER_STARTS * rollout.gate_s) * 1000
    if now_ms > (member.offered_ms or now_ms) + allowance_ms:
        member.state, member.done_ms = "failed", now_ms
        member.detail = f"no word from the device within {allowance_ms // 60000} minutes"


def _end_stage(session: Session, rollout: Rollout, members: list[RolloutDevice]) -> None:
    failed = [m for m in members if m.state == "failed"]
    rollout.updated_at = datetime.now(UTC)
    if len(failed) > rollout.max_failures:
        rollout.state = "halted"
        rollout.reason = (f"stage {rollout.stage + 1}: {len(failed)} of {len(members)} devices failed "
                          f"(at most {rollout.max_failures} allowed): "
                          + "; ".join(f"{m.device_id}: {m.detail}" for m in failed[:5]))[:2000]
        audit.record(session, "controller", "rollout.halt", [rollout.id], reason=rollout.reason[:300])
        log.warning("rollout %s halted: %s", rollout.id, rollout.reason)
    elif rollout.stage + 1 < len(rollout.stages):
        rollout.stage += 1
        log.info("rollout %s: stage %s", rollout.id, rollout.stage + 1)
    else:
        rollout.state = "completed"
        log.info("rollout %s completed", rollout.id)


# -- the operator's actions -----------------------------------------------------------------------

def pause(services: Services, rollout_id: str, actor: str) -> Rollout:
    """No new stage starts; devices already offered go on."""
    return _move(services, rollout_id, actor, "running", "paused", "rollout.pause")


def resume(services: Services, rollout_id: str, actor: str) -> Rollout:
    """A paused or halted rollout goes on from its current stage."""
    with services.db.session() as session:
        state = _get(session, rollout_id).state
    return _move(services, rollout_id, actor, state if state in ("paused", "halted") else "paused",
                 "running", "rollout.resume")


async def roll_back(services: Services, rollout_id: str, actor: str) -> Rollout:
    """Offer every device that was offered the release the one it ran before (when it is held)."""
    changed: list[str] = []
    with services.db.session() as session:
        rollout = _get(session, rollout_id)
        if rollout.state == "rolled_back":
            return rollout
        held = set(session.scalars(select(AgentRelease.version)))
        for member in session.scalars(select(RolloutDevice).where(RolloutDevice.rollout_id == rollout_id,
                                                                   RolloutDevice.state != "waiting")):
            device = session.get(Device, member.device_id)
            if device is None:
                continue
            device.release_version = member.from_version if member.from_version in held else None
            device.desired_version += 1
            changed.append(device.id)
        rollout.state, rollout.updated_at = "rolled_back", datetime.now(UTC)
        audit.record(session, actor, "rollout.roll_back", [rollout_id], devices=len(changed))
    for device_id in changed:
        await publish_device(services, device_id)
    return rollout


def _move(services: Services, rollout_id: str, actor: str, before: str, after: str, action: str) -> Rollout:
    with services.db.session() as session:
        rollout = _get(session, rollout_id)
        if rollout.state != before:
            raise DomainError("rollout_state", f"the rollout is {rollout.state}", 409)
        rollout.state, rollout.updated_at = after, datetime.now(UTC)
        if after == "running":
            rollout.reason = ""
        audit.record(session, actor, action, [rollout_id])
    return rollout


def _get(session: Session, rollout_id: str) -> Rollout:
    rollout = session.get(Rollout, rollout_id)
    if rollout is None:
        raise DomainError("unknown_rollout", f"no rollout {rollout_id!r}", 404)
    return rollout


def members_of(services: Services, rollout_id: str) -> tuple[Rollout, list[RolloutDevice]]:
    """A rollout and its devices, in stage order."""
    with services.db.session() as session:
        rollout = _get(session, rollout_id)
        members = list(session.scalars(select(RolloutDevice).where(RolloutDevice.rollout_id == rollout_id)
                                       .order_by(RolloutDevice.stage, RolloutDevice.device_id)))
    return rollout, members


def rollouts(services: Services) -> list[Rollout]:
    """Every rollout, newest first."""
    with services.db.session() as session:
        return list(session.scalars(select(Rollout).order_by(Rollout.created_at.desc())))


def describe(members: list[RolloutDevice]) -> dict[str, Any]:
    """How many devices are in each state."""
    counts: dict[str, int] = {}
    for member in members:
        counts[member.state] = counts.get(member.state, 0) + 1
    return counts
