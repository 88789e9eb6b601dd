"""The append-only audit log of operator actions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db.models import ApiClient, AuditEntry, Broadcast, Device, User


def record(session: Session, actor: str, action: str, targets: list[str], **detail: Any) -> None:
    """Add an entry in the caller's transaction, so the action and its record commit together."""
    session.add(AuditEntry(actor=actor, action=action, targets=targets, detail=detail))


class Visibility:
    """Which audit entries a caller scoped to an area subtree may read: those made by a user, API
    client or device of its scope, and those about an area, device or broadcast inside it. Names
    are looked up once per reading."""

    def __init__(self, session: Session, scope: set[str]) -> None:
        self.session = session
        self.scope = scope
        self._areas: dict[str, str | None] = {}

    def allows(self, entry: AuditEntry) -> bool:
        """Whether the entry concerns the scope."""
        if self._in_scope(self._actor_area(entry.actor)):
            return True
        return any(self._in_scope(area) for area in self._target_areas(entry.targets))

    def _in_scope(self, area: str | None) -> bool:
        return area is not None and area in self.scope

    def _actor_area(self, actor: str) -> str | None:
        if actor.startswith("client:"):
            return self._area_of("client", actor.removeprefix("client:"))
        if actor.startswith("device:"):
            return self._area_of("device", actor.removeprefix("device:"))
        return self._area_of("user", actor)

    def _target_areas(self, targets: list[Any]) -> list[str | None]:
        found: list[str | None] = []
        for target in targets[:20]:
            name = str(target)[:64]
            found += [name if name in self.scope else None, self._area_of("device", name)]
            found += self._broadcast_areas(name)
        return found

    def _broadcast_areas(self, broadcast_id: str) -> list[str | None]:
        if not broadcast_id.startswith("bc-"):
            return []
        broadcast = self.session.get(Broadcast, broadcast_id)
        if broadcast is None:
            return []
        areas = list(broadcast.area_ids) + [self._area_of("device", d) for d in broadcast.device_ids]
        return areas if all(self._in_scope(a) for a in areas) else []

    def _area_of(self, kind: str, name: str) -> str | None:
        key = f"{kind}:{name}"
        if key not in self._areas:
            model: Any = {"user": User, "client": ApiClient, "device": Device}[kind]
            row = self.session.get(model, name) if kind != "user" else self.session.scalars(
                select(User).where(User.username == name)).first()
            self._areas[key] = getattr(row, "area_id", None) if row is not None else None
        return self._areas[key]
