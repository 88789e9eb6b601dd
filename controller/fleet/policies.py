"""The policies areas inherit (approval, emergency confirmation, quiet hours, time zone), read for
many areas at once: one query for the tree, each area's chain walked once per attribute.

`areas.effective` walks one area's chain with a query per step; a decision about a province-wide
broadcast needs these for thousands of areas (3.8 s that way at 3,300 areas, see
docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import Area
from .areas import DEFAULT_TIMEZONE, MAX_DEPTH

DEFAULT_QUIET = ("22:00", "05:00")


@dataclass(frozen=True)
class QuietSpan:
    """An area's quiet hours (local HH:MM, the span may cross midnight) and its time zone."""

    start: str
    end: str
    timezone: str


class InheritedPolicies:
    """Inherited attributes of every area, from one reading of the tree."""

    def __init__(self, session: Session) -> None:
        query = select(Area.id, Area.parent_id, Area.approval, Area.emergency_confirm, Area.quiet_start,
                       Area.quiet_end, Area.timezone)
        self._rows: dict[str, Any] = {row.id: row for row in session.execute(query)}
        self._known: dict[tuple[str, str], object] = {}

    def value(self, area_id: str, attribute: str) -> object:
        """The attribute as area_id inherits it: its own, else the nearest area above that sets it."""
        walked: list[tuple[str, str]] = []
        current: str | None = area_id
        found: object = None
        for _ in range(MAX_DEPTH + 1):  # a corrupt tree (a loop) ends here too
            key = (current or "", attribute)
            if current is None or key in self._known:
                found = self._known.get(key)
                break
            row = self._rows.get(current)
            if row is None:
                break
            walked.append(key)
            if getattr(row, attribute) is not None:
                found = getattr(row, attribute)
                break
            current = row.parent_id
        for key in walked:
            self._known[key] = found
        return found

    def quiet(self, area_id: str) -> QuietSpan:
        """The area's quiet hours and time zone (22:00-05:00 in Vietnam's zone unless set above)."""
        return QuietSpan(str(self.value(area_id, "quiet_start") or DEFAULT_QUIET[0]),
                         str(self.value(area_id, "quiet_end") or DEFAULT_QUIET[1]),
                         str(self.value(area_id, "timezone") or DEFAULT_TIMEZONE))
