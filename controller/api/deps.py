"""Dependencies shared by the routers: services, the current user and their scope."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from starlette.requests import HTTPConnection

from ..airtime.service import Airtime
from ..context import Services
from ..db.models import ApiClient, User, utcnow
from ..errors import DomainError
from ..fleet.areas import parent_map, subtree
from ..live import stations
from ..live.sources import SourceError
from ..security import api_keys
from ..security.client_address import client_address
from ..security.principal import Principal as Principal
from ..security.roles import Permission, allows
from ..security.tokens import SESSION_COOKIE, csrf_matches

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotAuthenticated(DomainError):
    """No login, or one that ended: 401 asking for a bearer token."""

    def __init__(self) -> None:
        super().__init__("not_authenticated", "not authenticated", 401)

    def headers(self) -> dict[str, str]:
        """A 401 names the scheme that authenticates."""
        return {"WWW-Authenticate": "Bearer"}


def get_services(request: Request) -> Services:
    """The controller's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_airtime(request: Request) -> Airtime:
    """The airtime service: the one way to the air."""
    airtime: Airtime = request.app.state.airtime
    return airtime


AirtimeDep = Annotated[Airtime, Depends(get_airtime)]


def session_cookie(connection: HTTPConnection) -> str | None:
    """The console's session token from its cookie, if one was sent."""
    token = connection.cookies.get(SESSION_COOKIE)
    return token if token and len(token) <= 200 else None


async def resolve_token(services: Services, token: str) -> Principal | None:
    """The caller a bearer token or session token stands for (an API client's key too), or None."""
    client_id = api_keys.client_id_of(token)
    if client_id:
        return _client_principal(services, client_id, token)
    return await _user_principal(services, token)


async def current_principal(
    request: Request, services: ServicesDep, bearer: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """Resolve a bearer token (a login's, or an API client's key) or the console's session cookie.

    401 when missing, unknown or expired; 403 when a cookie-only request that changes something
    lacks the session's CSRF token.
    """
    if bearer:
        principal = await resolve_token(services, bearer)
    else:
        principal = await _cookie_principal(request, services)
    if principal is None:
        raise NotAuthenticated()
    return replace(principal, address=client_address(request, services.settings))


async def console_user(request: Request, services: Services) -> Principal | None:
    """The console user of the session cookie, or None when there is no live session."""
    cookie = session_cookie(request)
    return await _user_principal(services, cookie) if cookie else None


async def _cookie_principal(request: Request, services: Services) -> Principal | None:
    """The console user of the session cookie; a change must also carry the session's CSRF token."""
    cookie = session_cookie(request)
    principal = await _user_principal(services, cookie) if cookie else None
    if principal is not None and cookie is not None and request.method not in SAFE_METHODS \
            and not csrf_matches(cookie, request.headers.get("x-csrf-token")):
        raise DomainError("csrf_token_wrong", "missing or wrong X-CSRF-Token header", 403)
    return principal


async def _user_principal(services: Services, token: str) -> Principal | None:
    resolved = await services.tokens.resolve(token)
    if resolved is None:
        return None
    user_id, epoch = resolved
    with services.db.session() as session:
        user = session.get(User, user_id)
        if user is None or user.disabled or user.session_epoch != epoch:
            return None
        scope = None if user.area_id is None else subtree(parent_map(session), user.area_id)
        return Principal(user.id, user.username, user.role, scope, user.area_id)


def _client_principal(services: Services, client_id: str, key: str) -> Principal | None:
    with services.db.session() as session:
        client = session.get(ApiClient, client_id)
        if client is None or client.disabled or not api_keys.matches(key, client.key_hash):
            return None
        now = utcnow()
        last = client.last_used_at
        if last is None or (now - last).total_seconds() > 60:
            client.last_used_at = now  # written at most once a minute
        scope = None if client.area_id is None else subtree(parent_map(session), client.area_id)
        return Principal(None, f"client:{client.id}", client.role, scope, client.area_id)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(permission: Permission) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that lets the caller through only with permission."""

    async def check(principal: PrincipalDep) -> Principal:
        if not allows(principal.role, permission):
            raise DomainError("role_not_allowed", f"role {principal.role} may not {permission.value}", 403)
        return principal

    return check


def ensure_in_scope(principal: Principal, area_id: str) -> None:
    """403 when area_id is outside the caller's scope."""
    if not principal.can_see(area_id):
        raise DomainError("outside_scope", "outside your area", 403)


ViewerDep = Annotated[Principal, Depends(require(Permission.VIEW))]
"""The caller, who must be allowed to view (every role but `alert`)."""


async def ensure_station_allowed(services: Services, url: str, field: str = "url") -> None:
    """422 with the reason unless a station to relay is on an address the settings allow."""
    try:
        await stations.check_configured(url, services.settings)
    except SourceError as exc:
        raise DomainError("station_not_allowed", str(exc), 422, field) from None
