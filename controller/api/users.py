"""Users and API clients, managed by admins within their scope; every user manages their own password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi import Path as FastApiPath
from sqlalchemy import select

from .. import accounts, audit
from ..db.models import ApiClient, User
from ..errors import DomainError
from ..security.client_address import client_address
from ..security.passwords import hash_in_pool
from ..security.roles import Permission
from .deps import Principal, PrincipalDep, ServicesDep, require
from .schemas import (
    ApiClientCreate,
    ApiClientKey,
    ApiClientPublic,
    PasswordChange,
    UserCreate,
    UserPublic,
    UserUpdate,
)

router = APIRouter(tags=["users"])
Admin = Annotated[Principal, Depends(require(Permission.MANAGE_USERS))]
UserId = Annotated[int, FastApiPath(ge=1, le=2**31 - 1, description="the user's number")]


@router.get("/users/me", response_model=UserPublic, summary="Who you are")
async def me(services: ServicesDep, principal: PrincipalDep) -> User:
    """The logged-in user (API clients have no user record: 404)."""
    with services.db.session() as session:
        user = session.get(User, principal.user_id) if principal.user_id is not None else None
    if user is None:
        raise DomainError("not_a_user", "API clients have no user record", 404)
    return user


@router.post("/users/me/password", status_code=204, summary="Change your own password")
async def change_own_password(body: PasswordChange, request: Request, services: ServicesDep,
                              principal: PrincipalDep) -> None:
    """Give the current password and a new one; every login of yours ends, log in again.

    Wrong current passwords count with the failed logins of your user name and address (429 over
    the limit)."""
    with services.db.session() as session:
        user = session.get(User, principal.user_id) if principal.user_id is not None else None
        if user is None:
            raise DomainError("not_a_user", "API clients have no password", 404)
        stored = user.password_hash
    client = client_address(request, services.settings)
    if not await services.attempts.password_right(principal.username, client, stored, body.current_password):
        raise DomainError("current_password_wrong", "the current password is wrong", 403, "current_password")
    new_hash = await hash_in_pool(body.new_password)
    with services.db.session() as session:
        user = session.get(User, principal.user_id)
        if user is None:
            raise DomainError("not_a_user", "API clients have no password", 404)
        user.password_hash = new_hash
        user.session_epoch += 1
        audit.record(session, principal.username, "user.password", [user.username])


@router.get("/users", response_model=list[UserPublic], summary="List the users in your scope")
async def list_users(services: ServicesDep, principal: Admin) -> list[User]:
    """Users whose area lies inside the caller's scope."""
    with services.db.session() as session:
        users = session.scalars(select(User).order_by(User.username)).all()
    return [user for user in users if accounts.in_scope(principal.scope, user.area_id)]


@router.post("/users", response_model=UserPublic, status_code=201, summary="Create a user")
async def add_user(body: UserCreate, services: ServicesDep, principal: Admin) -> User:
    """A new user with a role over an area inside the caller's scope."""
    with services.db.session() as session:
        return accounts.create_user(session, principal.username, principal.scope, body.model_dump())


@router.get("/users/{user_id}", response_model=UserPublic, summary="Get one user")
async def get_user(user_id: UserId, services: ServicesDep, principal: Admin) -> User:
    """A user in the caller's scope."""
    with services.db.session() as session:
        return accounts.visible_user(session, principal.scope, user_id)


@router.patch("/users/{user_id}", response_model=UserPublic, summary="Change a user")
async def change_user(user_id: UserId, body: UserUpdate, services: ServicesDep, principal: Admin) -> User:
    """Change a user's password, role, area, name or disabled flag (not your own role, area or flag)."""
    changes = body.model_dump(exclude_unset=True)
    if any(changes.get(name, "") is None for name in ("password", "role", "disabled", "full_name")):
        raise DomainError("null_not_allowed", "only area_id may be null", 422)
    with services.db.session() as session:
        return accounts.update_user(session, principal.username, principal.user_id, principal.scope,
                                    user_id, changes)


def _with_key(client: ApiClient, key: str) -> ApiClientKey:
    return ApiClientKey(**ApiClientPublic.model_validate(client).model_dump(), key=key)


@router.get("/api-clients", response_model=list[ApiClientPublic], summary="List API clients in your scope")
async def list_clients(services: ServicesDep, principal: Admin) -> list[ApiClient]:
    """API clients whose area lies inside the caller's scope."""
    with services.db.session() as session:
        clients = session.scalars(select(ApiClient).order_by(ApiClient.id)).all()
    return [client for client in clients if accounts.in_scope(principal.scope, client.area_id)]


@router.post("/api-clients", response_model=ApiClientKey, status_code=201, summary="Create an API client")
async def add_client(body: ApiClientCreate, services: ServicesDep, principal: Admin) -> ApiClientKey:
    """A new client; its key is in this answer only."""
    with services.db.session() as session:
        client, key = accounts.create_client(session, principal.username, principal.scope, body.model_dump())
        session.flush()
        return _with_key(client, key)


@router.post("/api-clients/{client_id}/key", response_model=ApiClientKey, summary="Give a client a new key")
async def rotate_key(client_id: str, services: ServicesDep, principal: Admin) -> ApiClientKey:
    """A new key, in this answer only; the old key stops working at once."""
    with services.db.session() as session:
        client, key = accounts.rotate_client_key(session, principal.username, principal.scope, client_id)
        return _with_key(client, key)


@router.delete("/api-clients/{client_id}", status_code=204, summary="Disable an API client")
async def disable_client(client_id: str, services: ServicesDep, principal: Admin) -> None:
    """The client's key stops working; the record stays for the audit log."""
    with services.db.session() as session:
        accounts.set_client_disabled(session, principal.username, principal.scope, client_id, True)
