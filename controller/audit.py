"""The append-only audit log of operator actions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .db.models import AuditEntry


def record(session: Session, actor: str, action: str, targets: list[str], **detail: Any) -> None:
    """Add an entry in the caller's transaction, so the action and its record commit together."""
    session.add(AuditEntry(actor=actor, action=action, targets=targets, detail=detail))
