"""Login: OAuth2 password flow issuing bearer tokens, rate-limited per user name and address."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy import select

from ..db.models import User
from ..security.passwords import verify_password
from .deps import ServicesDep

router = APIRouter(prefix="/auth", tags=["auth"])

MAX_ATTEMPTS = 10
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
    """Exchange a user name and password for a bearer token (10 attempts per 5 minutes)."""
    client = request.client.host if request.client else "unknown"
    limit_key = f"loa:login:{form.username[:64]}:{client}"
    attempts = await services.redis.incr(limit_key)
    if attempts == 1:
        await services.redis.expire(limit_key, WINDOW_S)
    if attempts > MAX_ATTEMPTS:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many login attempts; wait 5 minutes")
    with services.db.session() as session:
        user = session.scalars(select(User).where(User.username == form.username[:64])).first()
        ok = verify_password(user.password_hash if user else None, form.password[:1024])
        if not ok or user is None or user.disabled:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password")
        user_id = user.id
    await services.redis.delete(limit_key)
    return Token(access_token=await services.tokens.issue(user_id), expires_in=services.tokens.ttl_s)
