"""Password checks limited in Redis, counted atomically, with every lockout audited.

Two kinds of check are counted apart:
- a login (anyone may try one) counts per user name and address, and per address whatever names it
  tries; behind a reverse proxy the address is the client's as the trusted proxy forwards it
  (security/client_address.py);
- a signed-in user's own password again (an emergency confirmation, a password change) counts per
  user alone: a flood of anonymous logins, from anywhere, cannot keep an operator from confirming
  an emergency.

Every check takes its place in the count before the password is verified (one Lua script increments
and, for the first attempt, starts the window), so a burst of concurrent wrong passwords passes no
more than the limit. A right password gives its place back. A lockout ends with its window, at most
WINDOW_S after the first wrong password, and the attempt that starts it is written to the audit log.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis

from .. import audit
from ..db.session import Database
from ..errors import DomainError
from .passwords import verify_in_pool

MAX_ATTEMPTS = 10  # per user name and address, or per signed-in user
MAX_ATTEMPTS_PER_ADDRESS = 100  # logins from one address, whatever the user names tried
WINDOW_S = 300
# A flood of password checks uses at most this many of the Redis pool's connections (it has 100),
# so the rest of the API keeps its own; the other checks wait their turn.
_REDIS_SLOTS = asyncio.Semaphore(16)
log = logging.getLogger(__name__)

# KEYS: the counts to take a place in, in order. ARGV: the window, then each count's limit.
# Returns {0, 0} when the attempt may go ahead, else {seconds until the count's window ends, the
# number of the count over its limit, 1 when this attempt is the one that went over}. A count found
# without an expiry (set by hand) gets one, so that it cannot block anyone for good.
_TAKE = """
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 or redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, ARGV[1]) end
  local limit = tonumber(ARGV[i + 1])
  if n > limit then
    local first = 0
    if n == limit + 1 then first = 1 end
    return {math.max(redis.call('TTL', key), 1), i, first}
  end
end
return {0, 0, 0}
"""
# A right password: the first count ends, its place in the others is given back.
_GIVE_BACK = """
redis.call('DEL', KEYS[1])
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 and tonumber(redis.call('GET', KEYS[i])) > 0 then
    redis.call('DECR', KEYS[i])
  end
end
return 0
"""


class TooManyAttempts(DomainError):
    """Too many wrong passwords; retry_after_s says when to try again."""

    def __init__(self, retry_after_s: int) -> None:
        minutes = max(1, round(retry_after_s / 60))
        super().__init__("too_many_password_attempts",
                         f"too many login attempts and wrong passwords; wait {minutes} minutes", 429)
        self.retry_after_s = retry_after_s


class Attempts:
    """The password checks of one controller: Redis holds the counts, the database the lockouts."""

    def __init__(self, redis: Redis, db: Database) -> None:
        self.redis = redis
        self.db = db

    async def take_login(self, username: str, address: str) -> None:
        """Count one login attempt; raises TooManyAttempts over a limit."""
        counts = {"user name and address": f"loa:login:{username[:64]}:{address}",
                  "address": f"loa:login-from:{address}"}
        await self._take(counts, [MAX_ATTEMPTS, MAX_ATTEMPTS_PER_ADDRESS], username, address)

    async def login_right(self, username: str, address: str) -> None:
        """A right login: its user name's count ends, its place in the address count is given back."""
        await self._give_back(f"loa:login:{username[:64]}:{address}", f"loa:login-from:{address}")

    async def password_right(self, username: str, address: str, stored_hash: str | None,
                             password: str) -> bool:
        """Whether a signed-in user's password matches stored_hash, counted per user (raises
        TooManyAttempts over the limit)."""
        key = f"loa:password-check:{username[:64]}"
        await self._take({"user": key}, [MAX_ATTEMPTS], username, address)
        right = await verify_in_pool(stored_hash, password[:1024])
        if right:
            await self._give_back(key)
        return right

    async def _take(self, counts: dict[str, str], limits: list[int], username: str, address: str) -> None:
        async with _REDIS_SLOTS:
            wait, over, first = await self.redis.eval(_TAKE, len(counts), *counts.values(), WINDOW_S, *limits)
        if int(wait) == 0:
            return
        if int(first):
            self._audit_lockout(username, address, list(counts)[int(over) - 1], int(wait))
        raise TooManyAttempts(int(wait))

    async def _give_back(self, *keys: str) -> None:
        async with _REDIS_SLOTS:
            await self.redis.eval(_GIVE_BACK, len(keys), *keys)

    def _audit_lockout(self, username: str, address: str, count: str, seconds: int) -> None:
        log.warning("password checks locked for %s s: too many wrong passwords per %s (user %.64s, from %s)",
                    seconds, count, username, address)
        with self.db.session() as session:
            audit.record(session, "system", "auth.lockout", [username[:64]], address=address, per=count,
                         seconds=seconds)
