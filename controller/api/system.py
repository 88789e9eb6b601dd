"""Health, counters and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from .. import audit, redis_client
from ..db.models import AuditEntry
from ..scheduling.leader import current_holder
from ..security.roles import Permission
from .deps import Principal, ServicesDep, require
from .schemas import AuditPublic

router = APIRouter(tags=["system"])
Admin = Annotated[Principal, Depends(require(Permission.MANAGE_USERS))]
SCOPED_SCAN = 5000  # entries read to find a scoped admin's page (page further with before_id)


@router.get("/system/status", summary="Controller status and input counters")
async def system_status(services: ServicesDep, principal: Admin) -> dict[str, object]:
    """Broker and Redis connections, signing key, the leading scheduler (null while Redis is
    unreachable), the counters of dropped input, and the inbox: messages waiting, those shed under
    load by class (`telemetry`, `clock`), and the devices shed most for sending faster than their
    fair share (`flooding`)."""
    redis_connected = await redis_client.reachable(services.redis)
    return {
        "instance": services.settings.instance_id,
        "broker_connected": services.link.connected.is_set(),
        "redis_connected": redis_connected,
        "signing_key": services.keyring.signing.kid,
        "scheduler_leader": await current_holder(services.redis) if redis_connected else None,
        "counters": services.counters.snapshot(),
        "inbox": {"waiting": len(services.link.inbox), "shed": dict(services.link.inbox.shed),
                  "flooding": services.link.inbox.flooders()},
    }


@router.get("/audit", response_model=list[AuditPublic], summary="Read the audit log")
async def audit_log(
    services: ServicesDep,
    principal: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> list[AuditEntry]:
    """Newest entries first; page with before_id. An admin of part of the tree reads the entries made
    by users, clients and devices of that part and those about its areas, devices and broadcasts."""
    with services.db.session() as session:
        query = select(AuditEntry).order_by(AuditEntry.id.desc())
        if before_id is not None:
            query = query.where(AuditEntry.id < before_id)
        if principal.scope is None:
            return list(session.scalars(query.limit(limit)).all())
        visible = audit.Visibility(session, principal.scope)
        scanned = session.scalars(query.limit(SCOPED_SCAN))
        return [entry for entry in scanned if visible.allows(entry)][:limit]
