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
    ALERT = "alert"  # API clients only: a warning centre that posts CAP alerts


USER_ROLES = frozenset({Role.ADMIN, Role.OPERATOR, Role.APPROVER, Role.TECHNICIAN, Role.VIEWER})


class Permission(StrEnum):
    """Actions the API checks."""

    VIEW = "view"
    MANAGE_AREAS = "manage_areas"
    MANAGE_DEVICES = "manage_devices"
    CONFIGURE_DEVICES = "configure_devices"
    MANAGE_USERS = "manage_users"
    MANAGE_MEDIA = "manage_media"
    SCHEDULE = "schedule"
    APPROVE = "approve"
    SUBMIT_ALERTS = "submit_alerts"
    MANAGE_NOTIFICATIONS = "manage_notifications"
    MANAGE_RELEASES = "manage_releases"  # agent releases and their rollouts


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission) - {Permission.SUBMIT_ALERTS},
    Role.OPERATOR: frozenset({Permission.VIEW, Permission.CONFIGURE_DEVICES, Permission.MANAGE_MEDIA,
                              Permission.SCHEDULE}),
    Role.APPROVER: frozenset({Permission.VIEW, Permission.APPROVE}),
    Role.TECHNICIAN: frozenset({Permission.VIEW, Permission.CONFIGURE_DEVICES}),
    Role.VIEWER: frozenset({Permission.VIEW}),
    Role.ALERT: frozenset({Permission.SUBMIT_ALERTS}),
}


def allows(role: str, permission: Permission) -> bool:
    """True when role grants permission."""
    return permission in permissions_of(role)


def permissions_of(role: str) -> frozenset[Permission]:
    """What a role may do (nothing for an unknown one)."""
    try:
        return GRANTS[Role(role)]
    except ValueError:
        return frozenset()
