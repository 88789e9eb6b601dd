"""Send the queued messages: each claimed by one controller at a time, retried with backoff.

A message is claimed by writing its claim's end where no live claim holds it (one row updated, or
none when another controller was first); it is then sent, and marked sent, or retried later
(doubling from RETRY_S up to RETRY_MAX_S) until MAX_ATTEMPTS, when it is marked failed. A
controller that dies after sending but before marking sends it again once the claim expires: a
message may, rarely, arrive twice, but is never lost.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import select, update

from ..context import Services
from ..db.models import NotificationMessage, NotificationSubscription, utcnow
from ..periodic import every
from .channels import ChannelError, send_email, send_webhook

log = logging.getLogger(__name__)

POLL_S = 1.0
CLAIM_S = 120
BATCH = 20
RETRY_S = 30
RETRY_MAX_S = 3600
MAX_ATTEMPTS = 10


def _now_ms() -> int:
    return int(time.time() * 1000)


def due_ids(services: Services, now_ms: int) -> list[int]:
    """Messages waiting to be sent whose time has come and that no live claim holds."""
    with services.db.session() as session:
        return list(session.scalars(select(NotificationMessage.id).where(
            NotificationMessage.status == "pending", NotificationMessage.next_attempt_ms <= now_ms,
            NotificationMessage.claimed_until_ms < now_ms).order_by(NotificationMessage.id).limit(BATCH)))


def claim(services: Services, message_id: int, now_ms: int) -> bool:
    """Take a message for CLAIM_S; False when another controller holds it or it is no longer due."""
    with services.db.session() as session:
        taken = session.execute(update(NotificationMessage).where(
            NotificationMessage.id == message_id, NotificationMessage.status == "pending",
            NotificationMessage.claimed_until_ms < now_ms)
            .values(claimed_until_ms=now_ms + CLAIM_S * 1000))
        return getattr(taken, "rowcount", 0) == 1


async def send_one(services: Services, message_id: int) -> None:
    """Send a claimed message and record how it went."""
    with services.db.session() as session:
        message = session.get(NotificationMessage, message_id)
        subscription = session.get(NotificationSubscription, message.subscription_id) if message else None
    if message is None or subscription is None:
        return
    try:
        if subscription.channel == "email":
            await send_email(services.settings, subscription.address, message.subject, message.body)
        else:
            await send_webhook(services.settings, subscription.address, subscription.secret, message.payload)
    except ChannelError as exc:
        _failed(services, message_id, str(exc))
        return
    with services.db.session() as session:
        session.execute(update(NotificationMessage).where(NotificationMessage.id == message_id)
                        .values(status="sent", sent_at=utcnow(), attempts=NotificationMessage.attempts + 1))
    log.info("notification %s (%s) sent to subscription %s by %s", message_id, message.purpose,
             subscription.id, subscription.channel)


def _failed(services: Services, message_id: int, reason: str) -> None:
    """Count the attempt; try again later, or give up after MAX_ATTEMPTS."""
    with services.db.session() as session:
        message = session.get(NotificationMessage, message_id)
        if message is None:
            return
        message.attempts += 1
        message.last_error = reason[:300]
        message.claimed_until_ms = 0
        if message.attempts >= MAX_ATTEMPTS:
            message.status = "failed"
        else:
            wait_s = min(RETRY_MAX_S, RETRY_S * 2 ** (message.attempts - 1))
            message.next_attempt_ms = _now_ms() + 1000 * wait_s
    log.warning("notification %s not sent (attempt %s): %s", message_id, message.attempts, reason)


async def send_due(services: Services) -> int:
    """Send every message due now that this controller could claim, together (one slow receiver
    holds up no other); returns how many were tried."""
    now_ms = _now_ms()
    claimed = [message_id for message_id in await asyncio.to_thread(due_ids, services, now_ms)
               if await asyncio.to_thread(claim, services, message_id, now_ms)]
    results = await asyncio.gather(*(send_one(services, message_id) for message_id in claimed),
                                   return_exceptions=True)
    for message_id, result in zip(claimed, results, strict=True):
        if isinstance(result, BaseException):  # its claim expires and it is tried again
            log.error("notification %s: sending failed (%s)", message_id, type(result).__name__)
    return len(claimed)


async def sender(services: Services) -> None:
    """Send due messages every POLL_S, forever; never raises."""
    await every(POLL_S, lambda: send_due(services), "notifications: sending")
