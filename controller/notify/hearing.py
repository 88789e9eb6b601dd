"""Clusters that play but are not heard: from the devices' hearing checks (their `heard` events).

A cluster with a microphone at its horns judges every play (receiver_agent/hearing) and sends a
signed `heard` event: yes, no (nothing of the programme over the village's noise, or another
sound instead of it) or unknown. A `no` opens a lasting incident for the cluster: silent horns
(`amplifier_silent`: a dead amplifier, a cut cable) or the wrong sound (`wrong_audio`: a hum alone,
another cluster's programme); the next play heard resolves both. Unknown changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..context import Services
from ..db.models import Device, Incident
from .incidents import Raised, open_subjects, raise_incident, resolve
from .rules import Kind

KIND_OF_REASON = {"silent": Kind.AMPLIFIER_SILENT, "other_sound": Kind.WRONG_AUDIO}
KINDS = tuple(KIND_OF_REASON.values())
REASON_OF_KIND = {kind.value: reason for reason, kind in KIND_OF_REASON.items()}


def not_heard(session: Session) -> dict[str, str]:
    """The clusters whose latest plays were not heard (an incident of theirs is open), each with why:
    `silent` or `other_sound`."""
    rows = session.execute(select(Incident.subject, Incident.kind).where(
        Incident.kind.in_(list(REASON_OF_KIND)), Incident.open_key.is_not(None),
        Incident.resolved_at.is_(None)))
    return {subject: REASON_OF_KIND[kind] for subject, kind in rows}


async def on_heard(services: Services, checks: Sequence[tuple[Device, dict[str, Any]]]) -> None:
    """Open or resolve each cluster's incidents by its hearing checks, oldest first (a fleet's checks
    of one play come together: only a change of what is open costs a write)."""
    if not checks:
        return
    with services.db.session() as session:
        open_now = {kind: open_subjects(session, kind) for kind in KINDS}
    for device, check in checks:
        verdict = check.get("heard")
        if verdict == "yes":
            for kind in KINDS:
                if device.id in open_now[kind]:
                    await resolve(services, kind, device.id)
                    open_now[kind].discard(device.id)
        elif verdict == "no":
            kind = KIND_OF_REASON.get(str(check.get("reason")), Kind.AMPLIFIER_SILENT)
            if device.id not in open_now[kind]:
                await raise_incident(services, _raised(kind, device, check))
                open_now[kind].add(device.id)


def _raised(kind: Kind, device: Device, check: dict[str, Any]) -> Raised:
    return Raised(kind, device.id, [device.area_id], device.name, {
        "device_id": device.id, "device_name": device.name, "occurrence_id": check.get("occurrence"),
        "reason": check.get("reason"), "noise_dbfs": check.get("noise_dbfs")})
