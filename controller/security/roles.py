"""Roles and what each may do."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A user's role, always scoped to an area subtree."""

    ADMIN = "admin"
    OPERATOR = "operator"
    APPROVER = "approver"
    TECHNICIAN = "technician"
    VIEWER = "viewer"


class Permission(StrEnum):
    """Actions the API checks."""

    VIEW = "view"
    MANAGE_AREAS = "manage_areas"
    MANAGE_DEVICES = "manage_devices"
    CONFIGURE_DEVICES = "configure_devices"
    MANAGE_USERS = "manage_users"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset({Permission.VIEW, Permission.CONFIGURE_DEVICES}),
    Role.APPROVER: frozenset({Permission.VIEW}),
    Role.TECHNICIAN: frozenset({Permission.VIEW, Permission.CONFIGURE_DEVICES}),
    Role.VIEWER: frozenset({Permission.VIEW}),
}


def allows(role: str, permission: Permission) -> bool:
    """True when role grants permission."""
    try:
        return permission in GRANTS[Role(role)]
    except ValueError:
        return False
