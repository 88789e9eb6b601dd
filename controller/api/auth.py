"""Login: bearer tokens for API callers and cookie sessions for the console, both rate-limited.

The console's session lives in an HttpOnly, SameSite=Strict cookie that scripts cannot read; a
request that changes anything with only that cookie must also carry the session's CSRF token in
the `X-CSRF-Token` header (the token is derived from the session, so a page of another site can
neither read nor guess it).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy import select

from ..context import Services
from ..db.models import User
from ..errors import DomainError
from ..fleet.areas import DEFAULT_TIMEZONE, zone_of
from ..security.client_address import client_address
from ..security.passwords import verify_in_pool
from ..security.roles import permissions_of
from ..security.tokens import SESSION_COOKIE, csrf_token_for
from .deps import ServicesDep, console_user, session_cookie
from .schemas import UserPublic

router = APIRouter(prefix="/auth", tags=["auth"])


class Token(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a password
    expires_in: int


class Credentials(BaseModel):
    """A user name and password, as the console's login form sends them."""

    username: str = Field(min_length=1, max_length=64, examples=["xa-thach-ha"])
    password: str = Field(min_length=1, max_length=1024, examples=["a long passphrase"])


class ConsoleSession(BaseModel):
    """The logged-in console user and the token to send as `X-CSRF-Token` with every change."""

    user: UserPublic
    csrf_token: str
    expires_in: int
    permissions: list[str] = Field([], description="what the role may do (the console shows only that)")
    map_tile_url: str = Field("", description="map tiles for the console; empty: a plain background")
    map_tile_attribution: str = ""
    timezone: str = Field(DEFAULT_TIMEZONE, examples=["Asia/Ho_Chi_Minh"],
                          description="the time zone of the user's area: the console shows every time in it")


def console_session(services: Services, user: UserPublic, token: str, expires_in: int) -> ConsoleSession:
    """The session's answer: the user, the CSRF token, the role's permissions, the map's tiles and the
    time zone the console shows times in."""
    with services.db.session() as session:
        zone = zone_of(session, user.area_id)
    return ConsoleSession(
        user=user, csrf_token=csrf_token_for(token), expires_in=expires_in,
        permissions=sorted(permissions_of(user.role)), map_tile_url=services.settings.map_tile_url,
        map_tile_attribution=services.settings.map_tile_attribution, timezone=zone)


@router.post("/token", response_model=Token, summary="Log in and get a bearer token")
async def login(
    request: Request, services: ServicesDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> Token:
    """Exchange a user name and password for a bearer token.

    Failed attempts are limited to 10 per user name and address and 100 per address in 5 minutes;
    a success clears the count of its user name.
    """
    user_id, epoch = await _authenticate(request, services, form.username, form.password)
    return Token(access_token=await services.tokens.issue(user_id, epoch), expires_in=services.tokens.ttl_s)


@router.post("/session", response_model=ConsoleSession, summary="Log in to the console (cookie)")
async def open_session(
    body: Credentials, request: Request, response: Response, services: ServicesDep
) -> ConsoleSession:
    """Log in with a user name and password; the session is set as an HttpOnly cookie.

    The same limits as for bearer tokens apply. The answer carries the CSRF token that every
    request changing anything must send in the `X-CSRF-Token` header.
    """
    user_id, epoch = await _authenticate(request, services, body.username, body.password)
    token = await services.tokens.issue(user_id, epoch)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=services.tokens.ttl_s, path="/api/", httponly=True,
        samesite="strict", secure=services.settings.public_url.startswith("https://"),
    )
    with services.db.session() as session:
        user = UserPublic.model_validate(session.get(User, user_id))
    return console_session(services, user, token, services.tokens.ttl_s)


@router.get("/session", response_model=ConsoleSession, summary="The console session in use",
            responses={204: {"description": "no console session: nobody is logged in"}})
async def current_session(request: Request, services: ServicesDep) -> ConsoleSession | Response:
    """Who is logged in with the session cookie, and its CSRF token (a reloaded page asks this);
    204 when nobody is (no cookie, or its session ended)."""
    principal = await console_user(request, services)
    token = session_cookie(request)
    if principal is None or token is None or principal.user_id is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    with services.db.session() as session:
        user = UserPublic.model_validate(session.get(User, principal.user_id))
    return console_session(services, user, token, await services.tokens.remaining_s(token))


@router.delete("/session", status_code=204, summary="Log out of the console")
async def close_session(request: Request, response: Response, services: ServicesDep) -> None:
    """End the session of the cookie sent (if any) and clear the cookie; always succeeds."""
    token = session_cookie(request)
    if token is not None:
        await services.tokens.revoke(token)
    response.delete_cookie(SESSION_COOKIE, path="/api/", httponly=True, samesite="strict")


async def _authenticate(
    request: Request, services: Services, username: str, password: str
) -> tuple[int, int]:
    """The user id and session epoch for a right user name and password; 401 or 429 otherwise.

    The attempt is counted before anything else, so that one over the limit costs next to nothing.
    """
    client = client_address(request, services.settings)
    await services.attempts.take_login(username, client)
    with services.db.session() as session:
        user = session.scalars(select(User).where(User.username == username[:64])).first()
        stored_hash = user.password_hash if user is not None else None
        account = (user.id, user.session_epoch) if user is not None and not user.disabled else None
    if not await verify_in_pool(stored_hash, password[:1024]) or account is None:
        raise DomainError("wrong_login", "wrong user name or password", 401, "password")
    await services.attempts.login_right(username, client)
    return account
