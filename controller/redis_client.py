"""The controller's Redis client, and what the API answers while Redis cannot be reached.

Redis holds live state only (presence, telemetry, deliveries, rate limits, the scheduler's
lock); what must survive is in the database. While Redis is unreachable, a request
that needs it is answered 503 with Retry-After and the code `redis_unavailable`, never a 500;
requests that need only the database are answered as usual. Presence is rebuilt once Redis is
back (mqtt/bridge.py), and a connection that a Redis restart broke is opened again on the next
command instead of failing it.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import Request
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .errors import DomainError

log = logging.getLogger(__name__)

# Longer than the longest blocking read (the event feed waits 5 s for an event), short enough that
# a Redis that hangs (accepts connections, answers nothing) fails a request within seconds.
SOCKET_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 2.0  # an unreachable host fails a request this soon
RETRIES = 2  # a connection broken by a restart is opened again; a Redis that is down fails at once
RETRY_AFTER_S = 5
HEALTH_TIMEOUT_S = 1.0
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


def connect(url: str, sentinels: list[tuple[str, int]] | None = None, master: str = "") -> Redis:
    """A client for url that retries a command whose connection broke (not one that timed out).

    With sentinels, the master is the one they name (url gives the database and password): after a
    failover the next command finds the promoted replica, and a connection to a demoted master is
    dropped when it refuses a write. The Sentinels are asked with the same password (requirepass in
    their configuration): a Sentinel that anybody may ask could be told by anybody to name another
    master.
    """
    retry = Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.05), RETRIES,
                  supported_errors=(RedisConnectionError,))
    if not sentinels:
        return Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S,
                              retry=retry)
    target = parse_url(url)
    password = target.get("password")
    asked = {"socket_timeout": CONNECT_TIMEOUT_S, "socket_connect_timeout": CONNECT_TIMEOUT_S,
             "password": password}
    watched = Sentinel(sentinels, sentinel_kwargs=asked)
    client: Redis = watched.master_for(
        master, redis_class=Redis, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S,
        retry=retry, db=target.get("db", 0), username=target.get("username"), password=password)
    return client


async def reachable(redis: Redis) -> bool:
    """Whether Redis answers a PING within HEALTH_TIMEOUT_S."""
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            await redis.ping()
    except (RedisError, TimeoutError):
        return False
    return True


def unavailable() -> DomainError:
    """The error a request that needs Redis gets while Redis is unreachable."""
    return DomainError("redis_unavailable", "live state (Redis) is unreachable; try again shortly",
                       status=503)


async def answer_unreachable(request: Request, exc: Exception) -> JSONResponse:
    """Exception handler: 503 with Retry-After and the stable code, no stack trace."""
    log.warning("Redis unreachable on %s %s: %s", request.method, request.url.path, exc)
    error = unavailable()
    return JSONResponse(error.body(), status_code=error.status, headers={"Retry-After": str(RETRY_AFTER_S)})
