"""Who is asking: an authenticated user or API client, its role and the areas it may address."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """The authenticated caller (a user, or an API client) and the areas they may see and address.

    scope None means the whole tree. username is what the audit log records: the user name, or
    `client:<id>` for an API client. address is the client's network address, where the caller
    came by HTTP (password checks are limited per user name and address).
    """

    user_id: int | None
    username: str
    role: str
    scope: set[str] | None
    area_id: str | None = None
    address: str | None = None

    @property
    def is_client(self) -> bool:
        """True for an API client."""
        return self.user_id is None

    def can_see(self, area_id: str | None) -> bool:
        """True when area_id is inside the caller's scope (None, the whole tree, only for the unscoped)."""
        return self.scope is None or (area_id is not None and area_id in self.scope)


SYSTEM = Principal(None, "system", "system", None)
"""The controller itself (ending a live session whose source stopped, a scheduled relay's window)."""
