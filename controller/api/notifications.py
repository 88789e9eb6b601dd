"""Notifications of incidents: subscriptions per area and role, the incidents, the messages sent, and
the daily digest on demand; admins within their scope (docs/notifications.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi import Path as FastApiPath
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

from ..db.models import Incident, NotificationMessage
from ..notify import subscriptions
from ..notify.digest import send_digests
from ..notify.rules import Kind
from ..notify.texts import incident_json
from ..security.roles import USER_ROLES, Permission, Role
from .deps import Principal, ServicesDep, require
from .schemas import SlugField

router = APIRouter(prefix="/notifications", tags=["notifications"])
Admin = Annotated[Principal, Depends(require(Permission.MANAGE_NOTIFICATIONS))]
SubscriptionId = Annotated[int, FastApiPath(ge=1, le=2**31 - 1, description="the subscription's number")]


class SubscriptionCreate(BaseModel):
    """Who is told, of what, where: an area (and everything below it), a role and an address."""

    model_config = ConfigDict(extra="forbid")

    area_id: SlugField | None = Field(None, description="the area; none: the whole tree (unscoped admins)")
    role: Role = Field(description="whose incidents it hears of (docs/notifications.md's table)")
    channel: Literal["email", "webhook"]
    address: str = Field(min_length=3, max_length=500, description="an e-mail address or a webhook URL")
    kinds: list[Kind] = Field(default_factory=list, max_length=10,
                              description="only these kinds of the role's (empty: all of them)")
    label: str = Field("", max_length=200)
    secret: str | None = Field(None, min_length=16, max_length=100,
                               description="a webhook's HMAC-SHA256 key (default: one is made)")

    @field_validator("role")
    @classmethod
    def _a_users_role(cls, role: Role) -> Role:
        if role not in USER_ROLES:
            raise ValueError("a role of users: admin, operator, approver, technician or viewer")
        return role


@router.get("/subscriptions", summary="Subscriptions in your scope")
async def list_subscriptions(services: ServicesDep, principal: Admin) -> list[dict[str, Any]]:
    """Every subscription of an area in the caller's scope (secrets are never shown)."""
    with services.db.session() as session:
        return [subscriptions.public(row) for row in subscriptions.visible(session, principal)]


@router.post("/subscriptions", status_code=201, summary="Subscribe an address to incidents")
async def subscribe(body: SubscriptionCreate, services: ServicesDep, principal: Admin) -> dict[str, Any]:
    """Record a subscription; a webhook's answer carries its signing secret, shown this once."""
    await subscriptions.check_address(services, body.channel, body.address)
    with services.db.session() as session:
        row, secret = subscriptions.create(session, principal, body.model_dump(mode="json"))
        answer = subscriptions.public(row)
    return {**answer, "secret": secret} if secret else answer


@router.delete("/subscriptions/{subscription_id}", status_code=204, summary="Remove a subscription")
async def unsubscribe(subscription_id: SubscriptionId, services: ServicesDep, principal: Admin) -> None:
    """Delete a subscription in the caller's scope; its unsent messages go with it."""
    with services.db.session() as session:
        subscriptions.remove(session, principal, subscription_id)


@router.post("/subscriptions/{subscription_id}/test", status_code=202, summary="Send a test message")
async def send_test(subscription_id: SubscriptionId, services: ServicesDep,
                    principal: Admin) -> dict[str, int]:
    """Queue a test message to a subscription in the caller's scope; `GET /messages` shows how it went."""
    with services.db.session() as session:
        return {"message_id": subscriptions.queue_test(session, principal, subscription_id).id}


@router.get("/incidents", summary="Incidents in your scope")
async def list_incidents(services: ServicesDep, principal: Admin,
                         open_only: Annotated[bool, Query(alias="open")] = False,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
    """The newest incidents about areas in the caller's scope (only those still open, with open=true)."""
    with services.db.session() as session:
        query = select(Incident).order_by(Incident.id.desc()).limit(limit)
        if open_only:
            query = query.where(Incident.resolved_at.is_(None))
        rows = session.scalars(query)
        return [incident_json(row) for row in rows
                if principal.scope is None or set(row.area_ids) & principal.scope]


@router.get("/messages", summary="Messages queued and sent")
async def list_messages(services: ServicesDep, principal: Admin,
                        limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
    """The newest messages to subscriptions in the caller's scope, with how their sending went."""
    with services.db.session() as session:
        mine = {row.id for row in subscriptions.visible(session, principal)}
        rows = session.scalars(select(NotificationMessage)
                               .where(NotificationMessage.subscription_id.in_(mine))
                               .order_by(NotificationMessage.id.desc()).limit(limit))
        return [{"id": m.id, "subscription_id": m.subscription_id, "incident_id": m.incident_id,
                 "purpose": m.purpose, "subject": m.subject, "status": m.status, "attempts": m.attempts,
                 "last_error": m.last_error, "created_at": m.created_at.isoformat(),
                 "sent_at": m.sent_at.isoformat() if m.sent_at else None} for m in rows]


@router.post("/digest", summary="Send today's digest now")
async def digest_now(services: ServicesDep, principal: Admin) -> dict[str, int]:
    """Queue today's digest of every subscription in the caller's scope that has not had it today
    (one a day: a second call the same day queues nothing); answers how many have something to tell."""
    with services.db.session() as session:
        mine = {row.id for row in subscriptions.visible(session, principal)}
    return {"queued": await send_digests(services, force=True, only=mine)}
