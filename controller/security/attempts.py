"""Password checks limited per user name and address and per address, counted atomically in Redis.

Every check takes its place in the count before the password is verified (one Lua script increments
and, for the first attempt, starts the window), so a burst of concurrent wrong passwords passes no
more than the limit. A right password gives its place back. Logins, emergency confirmations and
password changes share the count of their user name and address.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from ..errors import DomainError
from .passwords import verify_in_pool

MAX_ATTEMPTS = 10  # per user name and address
MAX_ATTEMPTS_PER_ADDRESS = 100  # whatever the user names tried
WINDOW_S = 300
# A flood of password checks uses at most this many of the Redis pool's connections (it has 100),
# so the rest of the API keeps its own; the other checks wait their turn.
_REDIS_SLOTS = asyncio.Semaphore(16)

# KEYS: the user name and address count, the address count. ARGV: their limits, the window.
# Returns 0 when the attempt may go ahead, else the seconds until the full count's window ends. A count
# found without an expiry (set by hand) gets one, so that it cannot block an address for good.
_TAKE = """
local function take(key, limit)
  local n = redis.call('INCR', key)
  if n == 1 or redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, ARGV[3]) end
  if n > tonumber(limit) then return math.max(redis.call('TTL', key), 1) end
  return 0
end
local wait = take(KEYS[1], ARGV[1])
if wait > 0 then return wait end
return take(KEYS[2], ARGV[2])
"""
# A right password: its user name's count ends, its place in the address count is given back.
_GIVE_BACK = """
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 and tonumber(redis.call('GET', KEYS[2])) > 0 then
  redis.call('DECR', KEYS[2])
end
return 0
"""


class TooManyAttempts(DomainError):
    """Too many wrong passwords from one address; retry_after_s says when to try again."""

    def __init__(self, retry_after_s: int) -> None:
        minutes = max(1, round(retry_after_s / 60))
        super().__init__("too_many_password_attempts",
                         f"too many login attempts and wrong passwords; wait {minutes} minutes", 429)
        self.retry_after_s = retry_after_s


def _keys(username: str, address: str) -> list[str]:
    return [f"loa:login:{username[:64]}:{address}", f"loa:login-from:{address}"]


async def take_attempt(redis: Redis, username: str, address: str) -> None:
    """Count one password attempt; raises TooManyAttempts when over a limit."""
    async with _REDIS_SLOTS:
        wait = int(await redis.eval(_TAKE, 2, *_keys(username, address), MAX_ATTEMPTS,
                                    MAX_ATTEMPTS_PER_ADDRESS, WINDOW_S))
    if wait > 0:
        raise TooManyAttempts(wait)


async def give_back(redis: Redis, username: str, address: str) -> None:
    """A right password: clear its user name's count and take it out of the address count."""
    async with _REDIS_SLOTS:
        await redis.eval(_GIVE_BACK, 2, *_keys(username, address))


async def password_right(redis: Redis, username: str, address: str, stored_hash: str | None,
                         password: str) -> bool:
    """Whether password matches stored_hash, within the limits (raises TooManyAttempts over them)."""
    await take_attempt(redis, username, address)
    right = await verify_in_pool(stored_hash, password[:1024])
    if right:
        await give_back(redis, username, address)
    return right
