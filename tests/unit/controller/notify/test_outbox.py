"""The outbox: a queued message is claimed by one controller at a time, and one that cannot be sent
is tried again later, doubling the wait, until it is marked failed with the reason."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from controller.db.models import NotificationMessage, NotificationSubscription
from controller.db.session import Database, migrate
from controller.notify import outbox
from controller.settings import Settings

pytestmark = pytest.mark.unit


def services(url: str) -> Any:
    """What the outbox uses of the controller's services: the database and the settings (no SMTP)."""
    return SimpleNamespace(db=Database(url), settings=Settings(environment="test"))  # type: ignore[call-arg]


def queued(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'outbox.sqlite3'}"
    migrate(url)
    db = Database(url)
    with db.session() as session:
        session.add(NotificationSubscription(role="admin", channel="email", address="kt@xa.example.vn",
                                             created_by="admin"))
        session.flush()
        session.add(NotificationMessage(dedupe_key="m-1", subscription_id=1, purpose="opened", subject="s",
                                        body="b", payload={}))
    db.engine.dispose()
    return url


def message(controller: Any) -> NotificationMessage:
    with controller.db.session() as session:
        found = session.get(NotificationMessage, 1)
        assert found is not None
        return found


def test_one_controller_at_a_time_holds_a_message(tmp_path: Path) -> None:
    url = queued(tmp_path)
    first, second = services(url), services(url)
    now = int(time.time() * 1000)
    assert outbox.due_ids(first, now) == [1]
    assert outbox.claim(first, 1, now) is True
    assert outbox.claim(second, 1, now) is False, "the other controller's claim holds"
    assert outbox.due_ids(second, now) == []
    later = now + outbox.CLAIM_S * 1000 + 1
    assert outbox.claim(second, 1, later) is True, "a claim whose controller died expires"


def test_a_message_that_cannot_be_sent_is_retried_later_then_marked_failed(tmp_path: Path) -> None:
    controller = services(queued(tmp_path))
    asyncio.run(outbox.send_due(controller))
    first = message(controller)
    assert (first.status, first.attempts) == ("pending", 1)
    assert "LOALANG_SMTP_HOST" in first.last_error
    wait_s = (first.next_attempt_ms - time.time() * 1000) / 1000
    assert outbox.RETRY_S - 2 < wait_s <= outbox.RETRY_S
    assert asyncio.run(outbox.send_due(controller)) == 0, "not before its time"
    for _ in range(outbox.MAX_ATTEMPTS - 1):
        with controller.db.session() as session:
            session.get(NotificationMessage, 1).next_attempt_ms = 0
        asyncio.run(outbox.send_due(controller))
    last = message(controller)
    assert (last.status, last.attempts) == ("failed", outbox.MAX_ATTEMPTS)
