"""Subscriptions: who is told of incidents in an area, by e-mail or webhook; an admin manages those
of their own scope."""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..context import Services
from ..db.models import Area, NotificationMessage, NotificationSubscription, utcnow
from ..errors import DomainError
from ..live.sources import SourceError
from ..security.principal import Principal
from . import texts
from .channels import check_webhook
from .rules import kinds_for

EMAIL = re.compile(r"^[^@\s<>,;\"']{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,}$")


def public(subscription: NotificationSubscription) -> dict[str, Any]:
    """A subscription as the API shows it (its secret never)."""
    return {"id": subscription.id, "area_id": subscription.area_id, "role": subscription.role,
            "channel": subscription.channel, "address": subscription.address, "kinds": subscription.kinds,
            "label": subscription.label, "created_by": subscription.created_by,
            "created_at": subscription.created_at.isoformat()}


async def check_address(services: Services, channel: str, address: str) -> None:
    """Refuse an e-mail address that is not one, or a webhook that is not allowed."""
    if channel == "email" and not services.settings.smtp_host:
        raise DomainError("notify_no_smtp", "no SMTP server is set (LOALANG_SMTP_HOST): no e-mail can be "
                          "sent", 422, "channel")
    if channel == "email" and not EMAIL.match(address):
        raise DomainError("notify_bad_email", "this is not an e-mail address", 422, "address")
    if channel == "webhook":
        try:
            await check_webhook(address, services.settings)
        except SourceError as exc:
            raise DomainError("notify_bad_webhook", str(exc), 422, "address") from None


def create(session: Session, principal: Principal,
           fields: dict[str, Any]) -> tuple[NotificationSubscription, str]:
    """Record a subscription in the caller's scope; returns it and its webhook secret (shown once)."""
    area_id = fields.get("area_id")
    if area_id is None and principal.scope is not None:
        raise DomainError("whole_tree_only", "only an admin of the whole tree may subscribe to every area",
                          403, "area_id")
    if area_id is not None and session.get(Area, area_id) is None:
        raise DomainError("unknown_area", f"area {area_id!r} does not exist", 422, "area_id")
    if area_id is not None and not principal.can_see(area_id):
        raise DomainError("outside_scope", "this area is outside your scope", 403, "area_id")
    refused = set(fields.get("kinds") or []) - {kind.value for kind in kinds_for(fields["role"], [])}
    if refused:
        raise DomainError("notify_kind_not_for_role", f"a {fields['role']} is not told of "
                          f"{', '.join(sorted(refused))} (docs/notifications.md)", 422, "kinds")
    secret = (fields.get("secret") or secrets.token_urlsafe(32)) if fields["channel"] == "webhook" else ""
    subscription = NotificationSubscription(
        area_id=area_id, role=fields["role"], channel=fields["channel"], address=fields["address"],
        secret=secret, kinds=sorted(set(fields.get("kinds") or [])), label=fields.get("label") or "",
        created_by=principal.username)
    session.add(subscription)
    session.flush()
    audit.record(session, principal.username, "notification.subscribe", [str(subscription.id)],
                 area=area_id, role=subscription.role, channel=subscription.channel)
    return subscription, secret


def visible(session: Session, principal: Principal) -> list[NotificationSubscription]:
    """The subscriptions of areas in the caller's scope."""
    rows = session.scalars(select(NotificationSubscription).order_by(NotificationSubscription.id))
    return [row for row in rows if _in_scope(principal, row)]


def remove(session: Session, principal: Principal, subscription_id: int) -> None:
    """Delete a subscription in the caller's scope (its queued messages go with it)."""
    subscription = session.get(NotificationSubscription, subscription_id)
    if subscription is None or not _in_scope(principal, subscription):
        raise DomainError("no_such_subscription", "no such subscription", 404)
    session.delete(subscription)
    audit.record(session, principal.username, "notification.unsubscribe", [str(subscription_id)])


def queue_test(session: Session, principal: Principal, subscription_id: int) -> NotificationMessage:
    """Queue a test message to a subscription in the caller's scope, so an admin sees it arrive."""
    subscription = session.get(NotificationSubscription, subscription_id)
    if subscription is None or not _in_scope(principal, subscription):
        raise DomainError("no_such_subscription", "no such subscription", 404)
    now = utcnow()
    text = texts.test_text(principal.username, now)
    message = NotificationMessage(
        dedupe_key=f"test:{subscription_id}:{now.timestamp():.6f}", subscription_id=subscription_id,
        purpose="test", subject=texts.TEST_SUBJECT, body=text,
        payload={"event": "test", "text": text, "sent_by": principal.username, "at": now.isoformat()})
    session.add(message)
    session.flush()
    return message


def _in_scope(principal: Principal, subscription: NotificationSubscription) -> bool:
    if subscription.area_id is None:
        return principal.scope is None
    return principal.can_see(subscription.area_id)
