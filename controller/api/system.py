"""Health, counters, the audit log and the signing keys."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from .. import audit, redis_client, revocations
from ..context import Services
from ..db.models import AuditEntry
from ..errors import DomainError
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
    fair share (`flooding`); the MQTT link's own figures (acknowledgements awaited now, connections
    made, messages in and out) and the controller's running asyncio tasks, which a long run watches
    for growth (benchmarks/soak.py); the event loop's stalls (how many, the longest) and the database
    writes seen held across an await (controller/loop_watch.py)."""
    redis_connected = await redis_client.reachable(services.redis)
    link = services.link
    return {
        "instance": services.settings.instance_id,
        "broker_connected": services.link.connected.is_set(),
        "redis_connected": redis_connected,
        "signing_key": services.keyring.signing.kid,
        "scheduler_leader": await current_holder(services.redis) if redis_connected else None,
        "counters": services.counters.snapshot(),
        "inbox": {"waiting": len(services.link.inbox), "shed": dict(services.link.inbox.shed),
                  "flooding": services.link.inbox.flooders()},
        "link": {"pending_acknowledgements": link.pending_acknowledgements, "connections": link.connections,
                 "failed_attempts": link.failed_attempts, "messages_in": link.messages_in,
                 "messages_out": link.messages_out},
        "tasks": len(asyncio.all_tasks()),
        "loop": services.loop_watch.figures(),
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


class RevocationListDocument(BaseModel):
    """A revocation list signed offline by the root key (`radio-controller keys revoke` writes it)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    revoked: list[str] = Field(description="revoked signing key ids (16 hex digits each)", max_length=1000)
    serial: int = Field(description="a list replaces the one held only with a higher serial")
    issued: int = Field(description="when the list was signed, ms since the epoch")
    root: str = Field(description="the key id of the root that signed it")
    sig: str = Field(description="the root's Ed25519 signature, URL-safe base64")


class KeysPublic(BaseModel):
    """The controller's signing key, its certificate's expiry and the revocation list it publishes."""

    root_key: str
    signing_key: str
    signing_certificate_expires: datetime
    revocations: RevocationListDocument | None


def _whole_tree(principal: Principal) -> None:
    if principal.scope is not None:
        raise DomainError("whole_tree_only", "only an admin of the whole tree may manage signing keys", 403)


def _keys(services: Services) -> KeysPublic:
    held = revocations.held(services)
    expires = datetime.fromtimestamp(services.keyring.certificate["exp"] / 1000, UTC)
    return KeysPublic(root_key=services.keyring.root_kid, signing_key=services.keyring.signing.kid,
                      signing_certificate_expires=expires,
                      revocations=RevocationListDocument(**held.document) if held else None)


@router.get("/system/keys", response_model=KeysPublic, summary="Signing key and revoked keys")
async def signing_keys(services: ServicesDep, principal: Admin) -> KeysPublic:
    """The key the controller signs with, when its certificate expires, and the revocation list it
    publishes to every device (null while no key was revoked). Admins of the whole tree only."""
    _whole_tree(principal)
    return _keys(services)


@router.put("/system/keys/revocations", response_model=KeysPublic, summary="Replace the revocation list")
async def replace_revocations(body: RevocationListDocument, services: ServicesDep,
                              principal: Admin) -> KeysPublic:
    """Take a revocation list made offline with the root key: it must be signed by this controller's
    root (422 `revocation_not_root_signed`, `revocation_invalid`), have a higher serial than the list
    held (409 `revocation_not_newer`) and not revoke the key the controller signs with (409
    `revokes_signing_key`). It is kept in the key folder, audited (`keys.revoke`) and published at
    once to every device, which from then on refuses anything signed by a revoked key. Admins of the
    whole tree only (403 `whole_tree_only`)."""
    _whole_tree(principal)
    await revocations.replace(services, body.model_dump(), principal.username)
    return _keys(services)
