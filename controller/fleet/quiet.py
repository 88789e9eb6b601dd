"""Quiet hours: whether an instant or a span of time falls in an area's quiet hours (local times)."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import time as dt_time
from zoneinfo import ZoneInfo


def in_quiet(instant_ms: int, start: str, end: str, zone: ZoneInfo) -> bool:
    """Whether an instant falls in quiet hours start-end (local times; the span may cross midnight)."""
    local = datetime.fromtimestamp(instant_ms / 1000, zone).strftime("%H:%M")
    return (start <= local or local < end) if start > end else start <= local < end


def span_in_quiet(start_ms: int, end_ms: int, start: str, end: str, zone: ZoneInfo) -> bool:
    """Whether [start_ms, end_ms) reaches into quiet hours start-end: it begins in them, ends in
    them, or spans a moment they begin (a relay window of many hours may do that)."""
    if start == end:
        return False  # no quiet hours
    if in_quiet(start_ms, start, end, zone) or in_quiet(max(start_ms, end_ms - 1), start, end, zone):
        return True
    quiet_from = time_of_day(start)
    day = datetime.fromtimestamp(start_ms / 1000, zone).date()
    while (moment := datetime.combine(day, quiet_from, zone).timestamp() * 1000) < end_ms:
        if moment >= start_ms:
            return True
        day += timedelta(days=1)
    return False


def time_of_day(text: str) -> dt_time:
    """A "HH:MM" local time."""
    hours, minutes = text.split(":")
    return dt_time(int(hours), int(minutes))
