"""Dependencies shared by the routers: services, the current user and their scope."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from ..context import Services
from ..db.models import User
from ..fleet.areas import parent_map, subtree
from ..security.roles import Permission, allows

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_services(request: Request) -> Services:
    """The controller's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


@dataclass(frozen=True)
class Principal:
    """The authenticated caller and the areas they may see and address (None: all)."""

    user_id: int
    username: str
    role: str
    scope: set[str] | None

    def can_see(self, area_id: str) -> bool:
        """True when area_id is inside the caller's scope."""
        return self.scope is None or area_id in self.scope


async def current_principal(
    services: ServicesDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """Resolve the bearer token to a user; 401 when missing, unknown or expired."""
    unauthorised = HTTPException(
        status.HTTP_401_UNAUTHORIZED, "not authenticated", headers={"WWW-Authenticate": "Bearer"}
    )
    if not token:
        raise unauthorised
    user_id = await services.tokens.resolve(token)
    if user_id is None:
        raise unauthorised
    with services.db.session() as session:
        user = session.get(User, user_id)
        if user is None or user.disabled:
            raise unauthorised
        scope = None if user.area_id is None else subtree(parent_map(session), user.area_id)
        return Principal(user.id, user.username, user.role, scope)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(permission: Permission) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that lets the caller through only with permission."""

    async def check(principal: PrincipalDep) -> Principal:
        if not allows(principal.role, permission):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {principal.role} may not {permission.value}"
            )
        return principal

    return check


def ensure_in_scope(principal: Principal, area_id: str) -> None:
    """403 when area_id is outside the caller's scope."""
    if not principal.can_see(area_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "outside your area")
