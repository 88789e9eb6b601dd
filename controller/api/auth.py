"""Login: OAuth2 password flow issuing bearer tokens, rate-limited per user name and address."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy import select

from ..context import Services
from ..db.models import User
from ..security.passwords import verify_password
from .deps import ServicesDep

router = APIRouter(prefix="/auth", tags=["auth"])

MAX_ATTEMPTS = 10  # per user name and address
MAX_ATTEMPTS_PER_ADDRESS = 100  # whatever the user names tried
WINDOW_S = 300


class Token(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a password
    expires_in: int


@router.post("/token", response_model=Token, summary="Log in and get a bearer token")
async def login(
    request: Request, services: ServicesDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> Token:
    """Exchange a user name and password for a bearer token.

    Failed attempts are limited to 10 per user name and address and 100 per address in 5 minutes;
    a success clears the count of its user name.
    """
    client = request.client.host if request.client else "unknown"
    limit_key = f"loa:login:{form.username[:64]}:{client}"
    address_key = f"loa:login-from:{client}"
    per_user, per_address = await services.redis.mget(limit_key, address_key)
    if int(per_user or 0) >= MAX_ATTEMPTS or int(per_address or 0) >= MAX_ATTEMPTS_PER_ADDRESS:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many login attempts; wait 5 minutes")
    with services.db.session() as session:
        user = session.scalars(select(User).where(User.username == form.username[:64])).first()
        ok = verify_password(user.password_hash if user else None, form.password[:1024])
        account = (user.id, user.session_epoch) if ok and user is not None and not user.disabled else None
    if account is None:
        await _count(services, limit_key)
        await _count(services, address_key)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password")
    user_id, epoch = account
    await services.redis.delete(limit_key)
    return Token(access_token=await services.tokens.issue(user_id, epoch), expires_in=services.tokens.ttl_s)


async def _count(services: Services, key: str) -> int:
    """Count an attempt in a window of WINDOW_S that starts with the first attempt."""
    attempts = int(await services.redis.incr(key))
    if attempts == 1:
        await services.redis.expire(key, WINDOW_S)
    return attempts
