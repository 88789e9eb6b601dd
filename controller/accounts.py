"""Users and API clients: who may log in or call the API, with which role, over which areas.

Every account is scoped to an area subtree (None: the whole tree). Whoever manages accounts can
give only what lies inside their own scope, and cannot lock themselves out. A changed password,
a changed role or scope, and a disabled account end the account's logins at once (the session
epoch moves on).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit
from .db.models import ApiClient, Area, User
from .errors import DomainError
from .security import api_keys
from .security.passwords import hash_password
from .security.roles import USER_ROLES, Role


class AccountError(DomainError):
    """An account change is not allowed; code and message say why."""

    def __init__(self, code: str, message: str, status: int = 422, field: str | None = None) -> None:
        super().__init__(code, message, status, field)


def check_grant(session: Session, scope: set[str] | None, area_id: str | None) -> None:
    """Refuse to give an account an area outside the granter's scope (or the whole tree when scoped)."""
    if area_id is None:
        if scope is not None:
            raise AccountError("whole_tree_only", "only an admin of the whole tree may give access to the "
                               "whole tree", 403, "area_id")
        return
    if session.get(Area, area_id) is None:
        raise AccountError("unknown_area", "no such area", field="area_id")
    if scope is not None and area_id not in scope:
        raise AccountError("outside_scope", "outside your area", 403)


def in_scope(scope: set[str] | None, area_id: str | None) -> bool:
    """True when an account scoped to area_id lies inside scope."""
    return scope is None or (area_id is not None and area_id in scope)


def create_user(session: Session, actor: str, scope: set[str] | None, fields: dict[str, Any]) -> User:
    """Add a user; the role must be a user role and the area inside the actor's scope."""
    if Role(fields["role"]) not in USER_ROLES:
        raise AccountError("role_for_clients_only", f"role {fields['role']} is for API clients only",
                           field="role")
    check_grant(session, scope, fields.get("area_id"))
    if session.scalars(select(User).where(User.username == fields["username"])).first() is not None:
        raise AccountError("name_taken", "that user name is taken", 409, "username")
    user = User(username=fields["username"], password_hash=hash_password(fields["password"]),
                role=fields["role"], area_id=fields.get("area_id"), full_name=fields.get("full_name", ""))
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", [user.username], role=user.role, area=user.area_id)
    return user


def visible_user(session: Session, scope: set[str] | None, user_id: int) -> User:
    """A user inside scope; 404 when there is none, 403 when it lies outside."""
    user = session.get(User, user_id)
    if user is None:
        raise AccountError("unknown_user", "no such user", 404)
    if not in_scope(scope, user.area_id):
        raise AccountError("outside_scope", "outside your area", 403)
    return user


def update_user(session: Session, actor: str, actor_id: int | None, scope: set[str] | None,
                user_id: int, changes: dict[str, Any]) -> User:
    """Change a user's name, password, role, area or disabled flag; all but a name change end logins."""
    user = visible_user(session, scope, user_id)
    if user.id == actor_id and ({"role", "area_id"} & set(changes) or changes.get("disabled")):
        raise AccountError("own_account", "you cannot change your own role or area, nor disable yourself",
                           403)
    if "role" in changes and Role(changes["role"]) not in USER_ROLES:
        raise AccountError("role_for_clients_only", f"role {changes['role']} is for API clients only",
                           field="role")
    if "area_id" in changes:
        check_grant(session, scope, changes["area_id"])
    for name in ("full_name", "role", "area_id", "disabled"):
        if name in changes:
            setattr(user, name, changes[name])
    if "password" in changes:
        user.password_hash = hash_password(changes["password"])
    if set(changes) - {"full_name"}:
        user.session_epoch += 1
    audit.record(session, actor, "user.update", [user.username],
                 **{k: ("***" if k == "password" else str(v)) for k, v in changes.items()})
    return user


def create_client(session: Session, actor: str, scope: set[str] | None,
                  fields: dict[str, Any]) -> tuple[ApiClient, str]:
    """Add an API client; returns it and its key (shown once, stored only as a hash)."""
    check_grant(session, scope, fields.get("area_id"))
    if session.get(ApiClient, fields["id"]) is not None:
        raise AccountError("name_taken", "that client id is taken", 409, "id")
    key, stored = api_keys.new_key(fields["id"])
    client = ApiClient(id=fields["id"], name=fields["name"], key_hash=stored, role=fields["role"],
                       area_id=fields.get("area_id"), cancels_others=bool(fields.get("cancels_others")),
                       created_by=actor)
    session.add(client)
    audit.record(session, actor, "client.create", [client.id], role=client.role, area=client.area_id,
                 cancels_others=client.cancels_others)
    return client, key


def visible_client(session: Session, scope: set[str] | None, client_id: str) -> ApiClient:
    """An API client inside scope; 404 when there is none, 403 when it lies outside."""
    client = session.get(ApiClient, client_id)
    if client is None:
        raise AccountError("unknown_client", "no such API client", 404)
    if not in_scope(scope, client.area_id):
        raise AccountError("outside_scope", "outside your area", 403)
    return client


def rotate_client_key(session: Session, actor: str, scope: set[str] | None, client_id: str) -> tuple[
        ApiClient, str]:
    """A new key for a client; the old one stops working at once."""
    client = visible_client(session, scope, client_id)
    key, client.key_hash = api_keys.new_key(client.id)
    audit.record(session, actor, "client.rotate", [client.id])
    return client, key


def set_client_disabled(session: Session, actor: str, scope: set[str] | None, client_id: str,
                        disabled: bool) -> ApiClient:
    """Disable (or enable again) an API client."""
    client = visible_client(session, scope, client_id)
    client.disabled = disabled
    audit.record(session, actor, "client.disable" if disabled else "client.enable", [client.id])
    return client
