"""Broadcasts: put something on the air now, at one shared instant on every target, or stop it.

A broadcast's start is now plus a small margin (`broadcast_margin_ms`), the same instant for
every target, so neighbouring clusters do not echo each other. It becomes one occurrence per
target area (published once for the area; every device below hears it) and per target device.
Whether a broadcast may be made, and whether it waits for a second approver, is the airtime
gate's decision (controller/airtime); this module keeps the broadcast's records.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..db.models import Area, Broadcast, Device, MediaItem, Occurrence
from ..errors import DomainError
from ..fleet import desired
from ..fleet.areas import parent_map, subtree


class BroadcastError(DomainError):
    """A broadcast cannot do what was asked; code and message say why."""


def new_id() -> str:
    """A unique broadcast id (a slug)."""
    return "bc-" + secrets.token_hex(8)


def target_areas(session: Session, area_ids: list[str], device_ids: list[str]) -> list[str]:
    """The areas whose policies apply: the target areas and the areas of the target devices."""
    areas = list(area_ids)
    for device_id in device_ids:
        device = session.get(Device, device_id)
        if device is not None:
            areas.append(device.area_id)
    return sorted(set(areas))


def create(session: Session, actor: str, fields: dict[str, Any], item: MediaItem | None,
           awaiting: bool) -> Broadcast:
    """Record a broadcast (awaiting a second approver, or about to go on the air).

    Without a file (item None) it is live: fields["live"] names the source, and its length is
    not known until it ends.
    """
    live = fields.get("live") or {}
    broadcast = Broadcast(
        id=new_id(), title=fields["title"], level=fields["level"],
        media_sha256=item.sha256 if item else None, live_kind=live.get("kind"), live_url=live.get("url"),
        bulletin_id=fields.get("bulletin_id"), area_ids=fields["area_ids"], device_ids=fields["device_ids"],
        status="awaiting_confirmation" if awaiting else "on_air",
        duration_ms=item.duration_ms if item else 0,
        max_lateness_ms=fields["max_lateness_ms"] if item else 0,
        quiet_override=bool(fields.get("quiet_override")), created_by=actor, report={},
        in_reply_to=fields.get("in_reply_to"),
    )
    session.add(broadcast)
    audit.record(session, actor, "broadcast.create", [broadcast.id], level=broadcast.level,
                 title=broadcast.title, areas=broadcast.area_ids, devices=broadcast.device_ids,
                 status=broadcast.status, in_reply_to=broadcast.in_reply_to)
    return broadcast


def confirm(session: Session, actor: str, broadcast: Broadcast) -> None:
    """A second approver confirms an emergency (not its author)."""
    if broadcast.status != "awaiting_confirmation":
        state = broadcast.status.replace("_", " ")
        raise BroadcastError("nothing_to_confirm", f"a broadcast {state} needs no confirmation")
    if broadcast.created_by == actor:
        raise BroadcastError("same_person", "the second approver must be someone else", 403)
    broadcast.confirmed_by = actor
    audit.record(session, actor, "broadcast.confirm", [broadcast.id])


@dataclass(frozen=True)
class OnAir:
    """What putting a broadcast on the air wrote: its occurrences, the targets to publish, who it reaches."""

    occurrences: list[str]
    targets: list[str]
    reach: dict[str, tuple[str, str, int]]  # device -> (scope, target, version carrying the broadcast)


def put_on_air(session: Session, broadcast: Broadcast, now_ms: int, margin_ms: int | Callable[[int], int],
               prelude_ms: int = 0, valid_until_ms: int | None = None,
               source: dict[str, Any] | None = None) -> OnAir:
    """Write one occurrence per target at now + margin and give each target a new version.

    margin_ms is a number, or a function of the number of devices reached (margin.py).

    With prelude_ms, each target first sounds the device's own attention signal for that long
    (an alert), and the file follows. valid_until_ms bounds when devices may still start it.
    source is what plays: by default the broadcast's file; a live stream's for a live broadcast.
    """
    if source is None:
        item = session.get(MediaItem, broadcast.media_sha256)
        assert item is not None
        source = {"type": "media", "sha256": item.sha256, "size": item.size}
    reached = reached_devices(session, broadcast)
    margin = margin_ms(len(reached)) if callable(margin_ms) else margin_ms
    broadcast.status, broadcast.start_ms = "on_air", now_ms + margin + prelude_ms
    occurrences, targets, made = [], [], []
    versions: dict[str, int] = {}
    addressed = [("area", a) for a in broadcast.area_ids] + [("device", d) for d in broadcast.device_ids]
    for scope, target_id in addressed:
        owner = session.get(Area, target_id) if scope == "area" else session.get(Device, target_id)
        if owner is None:
            continue
        if prelude_ms:
            prelude_id = "o-" + secrets.token_hex(10)
            made.append(prelude_id)
            session.add(Occurrence(
                id=prelude_id, area_id=target_id if scope == "area" else None,
                device_id=target_id if scope == "device" else None, level=broadcast.level,
                start_ms=broadcast.start_ms - prelude_ms, duration_ms=prelude_ms,
                source={"type": "attention"},
                max_lateness_ms=broadcast.max_lateness_ms, valid_until_ms=valid_until_ms,
                quiet_override=broadcast.quiet_override, issued_ms=now_ms, title=broadcast.title,
                created_by=broadcast.created_by, broadcast_id=broadcast.id,
            ))
        occurrence_id = "o-" + secrets.token_hex(10)
        session.add(Occurrence(
            id=occurrence_id, area_id=target_id if scope == "area" else None,
            device_id=target_id if scope == "device" else None, level=broadcast.level,
            start_ms=broadcast.start_ms, duration_ms=broadcast.duration_ms,
            source=source, max_lateness_ms=broadcast.max_lateness_ms, valid_until_ms=valid_until_ms,
            quiet_override=broadcast.quiet_override, issued_ms=now_ms, title=broadcast.title,
            created_by=broadcast.created_by, broadcast_id=broadcast.id,
        ))
        owner.desired_version += 1
        versions[f"{scope}:{target_id}"] = owner.desired_version
        occurrences.append(occurrence_id)
        targets.append(desired.target_key(scope, target_id))
    broadcast.occurrence_ids = sorted({*(broadcast.occurrence_ids or []), *occurrences, *made})
    reach = {device_id: (scope, target, versions.get(f"{scope}:{target}", 0))
             for device_id, (scope, target) in reached.items()}
    return OnAir(occurrences, targets, reach)


def reached_devices(session: Session, broadcast: Broadcast) -> dict[str, tuple[str, str]]:
    """Every device the broadcast reaches, and through which target (scope, id)."""
    parents = parent_map(session)
    area_of = {d.id: d.area_id for d in session.scalars(select(Device))}
    reached: dict[str, tuple[str, str]] = {}
    for area_id in broadcast.area_ids:
        below = subtree(parents, area_id) if area_id in parents else set()
        for device_id, device_area in area_of.items():
            if device_area in below and device_id not in reached:
                reached[device_id] = ("area", area_id)
    for device_id in broadcast.device_ids:
        reached.setdefault(device_id, ("device", device_id))
    return reached


def reaching_only(session: Session, roots: list[str], now_ms: int) -> list[str]:
    """The broadcasts on the air (or awaiting confirmation) that reach only inside these subtrees.

    A broadcast that also reaches elsewhere (a province bulletin stopped by one commune) is left on
    the air there; a stop command silences it here.
    """
    parents = parent_map(session)
    inside = set().union(*(subtree(parents, root) for root in roots)) if roots else set()
    found = []
    live = session.scalars(select(Broadcast).where(Broadcast.status.in_(("on_air", "awaiting_confirmation"))))
    for broadcast in live:
        ends = (broadcast.start_ms or now_ms) + broadcast.duration_ms + broadcast.max_lateness_ms
        reaches = set(target_areas(session, broadcast.area_ids, broadcast.device_ids))
        if ends >= now_ms and reaches <= inside:
            found.append(broadcast.id)
    return found


def withdraw(session: Session, actor: str, broadcast: Broadcast) -> list[str]:
    """Take one broadcast off the air; returns the targets to publish again."""
    targets = set()
    for occurrence in session.scalars(select(Occurrence).where(Occurrence.broadcast_id == broadcast.id)):
        if occurrence.area_id:
            targets.add(desired.target_key("area", occurrence.area_id))
        else:
            targets.add(desired.target_key("device", str(occurrence.device_id)))
        session.delete(occurrence)
    bump_versions(session, sorted(targets))
    broadcast.status, broadcast.stopped_by = "stopped", actor
    audit.record(session, actor, "broadcast.withdraw", [broadcast.id])
    return sorted(targets)


def bump_versions(session: Session, targets: list[str]) -> None:
    """Give each target (`area:ID` or `device:ID`) a new desired-state version, to be published again."""
    for key in targets:
        scope, target_id = key.split(":", 1)
        owner = session.get(Area, target_id) if scope == "area" else session.get(Device, target_id)
        if owner is not None:
            owner.desired_version += 1
