"""When a schedule plays: once, daily, weekly, on given dates, or by an RRULE, in the area's local time.

Times are wall-clock times of the area's time zone (an operator says "7:00 every Monday", not a
UTC instant); each play becomes a UTC instant only when it is expanded, so a time zone with
daylight saving keeps "7:00" right all year. Recurrence rules use python-dateutil (RFC 5545).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule

Kind = Literal["once", "daily", "weekly", "dates", "rrule"]
MAX_DATES = 366
MAX_PER_DAY = 48  # more plays a day than this is refused
ALLOWED_FREQUENCIES = {"HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"}


class RecurrenceError(ValueError):
    """A recurrence that cannot be used; the message says why."""


@dataclass(frozen=True)
class Recurrence:
    """A schedule's plays: the first at start_local, then by kind, until until_local (inclusive)."""

    kind: Kind
    start_local: datetime  # naive: a wall-clock time in timezone
    timezone: str
    weekdays: tuple[int, ...] = ()  # 0 = Monday, for weekly
    dates: tuple[date, ...] = ()  # for dates: the days, each at start_local's time of day
    until_local: date | None = None
    rule: str | None = None  # an RRULE (without DTSTART), for rrule
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "_zone", ZoneInfo(self.timezone))
        except (ZoneInfoNotFoundError, ValueError):
            raise RecurrenceError(f"unknown time zone {self.timezone!r:.60}") from None
        if self.start_local.tzinfo is not None:
            raise RecurrenceError("start_local is a wall-clock time without a zone")
        self._check_kind()
        if self.until_local is not None and self.until_local < self.start_local.date():
            raise RecurrenceError("until is before the start")

    def _check_kind(self) -> None:
        if self.kind == "weekly" and (not self.weekdays or any(not 0 <= d <= 6 for d in self.weekdays)):
            raise RecurrenceError("weekly needs weekdays, 0 (Monday) to 6 (Sunday)")
        if self.kind == "dates" and not 0 < len(self.dates) <= MAX_DATES:
            raise RecurrenceError(f"dates needs 1 to {MAX_DATES} dates")
        if self.kind == "rrule":
            self._rule_set()

    def _rule_set(self) -> rrule.rrule | rrule.rruleset:
        """The dateutil rule, in naive local time."""
        if self.kind == "once":
            return rrule.rrule(rrule.DAILY, dtstart=self.start_local, count=1)
        until = datetime.combine(self.until_local, datetime.max.time()) if self.until_local else None
        if self.kind == "daily":
            return rrule.rrule(rrule.DAILY, dtstart=self.start_local, until=until)
        if self.kind == "weekly":
            return rrule.rrule(rrule.WEEKLY, dtstart=self.start_local, until=until,
                               byweekday=sorted(set(self.weekdays)))
        if self.kind == "dates":
            dates = rrule.rruleset()
            for day in sorted(set(self.dates)):
                dates.rdate(datetime.combine(day, self.start_local.time()))
            return dates
        return self._parsed_rule()

    def _parsed_rule(self) -> rrule.rrule:
        text = (self.rule or "").strip().removeprefix("RRULE:")
        if not text or len(text) > 500 or "\n" in text or text.upper().startswith("DTSTART"):
            raise RecurrenceError("rule must be one RRULE line (without DTSTART), at most 500 characters")
        parts = dict(part.partition("=")[::2] for part in text.upper().split(";"))
        if parts.get("FREQ") not in ALLOWED_FREQUENCIES:
            raise RecurrenceError(f"rule FREQ must be one of {', '.join(sorted(ALLOWED_FREQUENCIES))}")
        try:
            parsed = rrule.rrulestr(text, dtstart=self.start_local)
        except (ValueError, TypeError) as exc:
            raise RecurrenceError(f"rule is not a valid RRULE: {str(exc)[:120]}") from None
        if not isinstance(parsed, rrule.rrule):
            raise RecurrenceError("rule must be a single RRULE")
        return parsed

    def between(self, start_ms: int, end_ms: int) -> list[int]:
        """The plays (UTC ms) in [start_ms, end_ms), soonest first."""
        zone = self._zone
        first = datetime.fromtimestamp(start_ms / 1000, zone).replace(tzinfo=None) - timedelta(days=1)
        last = datetime.fromtimestamp(end_ms / 1000, zone).replace(tzinfo=None) + timedelta(days=1)
        plays = []
        limit = MAX_PER_DAY * max(1, (end_ms - start_ms) // 86_400_000 + 2)
        for local in self._rule_set().between(first, last, inc=True):
            if self.until_local is not None and local.date() > self.until_local:
                break
            instant = int(local.replace(tzinfo=zone).astimezone(UTC).timestamp() * 1000)
            if start_ms <= instant < end_ms:
                plays.append(instant)
            if len(plays) > limit:
                raise RecurrenceError(f"more than {MAX_PER_DAY} plays a day")
        return plays

    def next_after(self, instant_ms: int) -> int | None:
        """The first play (UTC ms) at or after instant_ms, or None when there is none."""
        zone = self._zone
        cursor: datetime | None = (datetime.fromtimestamp(instant_ms / 1000, zone).replace(tzinfo=None)
                                   - timedelta(days=1))
        rule = self._rule_set()
        while cursor is not None and (local := rule.after(cursor)) is not None:
            cursor = local
            if self.until_local is not None and local.date() > self.until_local:
                return None
            instant = int(local.replace(tzinfo=zone).astimezone(UTC).timestamp() * 1000)
            if instant >= instant_ms:
                return instant
        return None

    def describe(self) -> str:
        """The recurrence as RFC 5545 text (DTSTART with its zone, then the rule or dates)."""
        start = self.start_local.strftime("%Y%m%dT%H%M%S")
        lines = [f"DTSTART;TZID={self.timezone}:{start}"]
        rule = self._rule_set()
        if isinstance(rule, rrule.rruleset):
            lines += [f"RDATE;TZID={self.timezone}:{d.strftime('%Y%m%dT%H%M%S')}" for d in rule]
        else:
            lines += [line for line in str(rule).splitlines() if line.startswith("RRULE")]
        return "\n".join(lines)
