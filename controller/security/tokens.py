"""Opaque login tokens kept in Redis, so that they can be revoked at once.

The same token serves as a bearer token for API callers and as the console's session cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from redis.asyncio import Redis

_PREFIX = "loa:token:"
SESSION_COOKIE = "loalang_session"


def _key(token: str) -> str:
    return _PREFIX + hashlib.sha256(token.encode()).hexdigest()


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of a console session: derived from the secret cookie, so only its holder knows it."""
    return hmac.new(session_token.encode(), b"loalang csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, presented: str | None) -> bool:
    """True when presented is the session's CSRF token (compared in constant time)."""
    return presented is not None and hmac.compare_digest(csrf_token_for(session_token), presented[:128])


class TokenStore:
    """Issues and resolves API tokens; only their hashes are stored."""

    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    def key(self, token: str) -> str:
        """The Redis key a token is stored under (by its hash)."""
        return _key(token)

    async def issue(self, user_id: int, epoch: int) -> str:
        """A new token for user_id, valid for the configured lifetime or until the user's epoch moves."""
        token = secrets.token_urlsafe(32)
        await self.redis.set(_key(token), f"{user_id} {epoch}", ex=self.ttl_s)
        return token

    async def resolve(self, token: str) -> tuple[int, int] | None:
        """The user id and session epoch a token was issued for, or None when unknown or expired."""
        if not token or len(token) > 200:
            return None
        value = await self.redis.get(_key(token))
        if value is None:
            return None
        user_id, _, epoch = (value.decode() if isinstance(value, bytes) else str(value)).partition(" ")
        return int(user_id), int(epoch or 0)

    async def revoke(self, token: str) -> None:
        """Forget a token."""
        await self.redis.delete(_key(token))
