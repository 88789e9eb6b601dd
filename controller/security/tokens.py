"""Opaque login tokens kept in the database by their hash, so that they can be revoked at once
and outlive a Redis that was lost or wiped.

The same token serves as a bearer token for API callers and as the console's session cookie. Each
request already reads its user from the database; the token is one more read by primary key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from sqlalchemy import delete

from ..db.models import LoginSession
from ..db.session import Database

SESSION_COOKIE = "loalang_session"
LONGEST_TOKEN = 200


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now_ms() -> int:
    return int(time.time() * 1000)


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of a console session: derived from the secret cookie, so only its holder knows it."""
    return hmac.new(session_token.encode(), b"loalang csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, presented: str | None) -> bool:
    """True when presented is the session's CSRF token (compared in constant time)."""
    return presented is not None and hmac.compare_digest(csrf_token_for(session_token), presented[:128])


class TokenStore:
    """Issues and resolves login tokens; only their hashes are stored."""

    def __init__(self, db: Database, ttl_s: int) -> None:
        self.db = db
        self.ttl_s = ttl_s

    async def issue(self, user_id: int, epoch: int) -> str:
        """A new token for user_id, valid for the configured lifetime or until the user's epoch moves.

        Tokens that have expired are removed here, so the table holds only live sessions.
        """
        token = secrets.token_urlsafe(32)
        now = _now_ms()
        with self.db.session() as session:
            session.execute(delete(LoginSession).where(LoginSession.expires_ms < now))
            session.add(LoginSession(token_hash=_hash(token), user_id=user_id, epoch=epoch,
                                     expires_ms=now + self.ttl_s * 1000))
        return token

    async def resolve(self, token: str) -> tuple[int, int] | None:
        """The user id and session epoch a token was issued for, or None when unknown or expired."""
        row = self._live(token)
        return (row.user_id, row.epoch) if row is not None else None

    async def remaining_s(self, token: str) -> int:
        """How many seconds the token has left (0 when unknown or expired)."""
        row = self._live(token)
        return max((row.expires_ms - _now_ms()) // 1000, 0) if row is not None else 0

    async def revoke(self, token: str) -> None:
        """Forget a token."""
        if token and len(token) <= LONGEST_TOKEN:
            with self.db.session() as session:
                session.execute(delete(LoginSession).where(LoginSession.token_hash == _hash(token)))

    def _live(self, token: str) -> LoginSession | None:
        if not token or len(token) > LONGEST_TOKEN:
            return None
        with self.db.session() as session:
            row = session.get(LoginSession, _hash(token))
        return row if row is not None and row.expires_ms > _now_ms() else None
