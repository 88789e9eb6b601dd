"""The schedule on disk: occurrences from the device's and its areas' desired state.

Each occurrence is validated on its own, so one bad item is rejected (with a receipt) and the
rest still play. Everything is saved atomically, so after a restart or with no network the
agent plays from disk; occurrences that already ended are remembered so they never replay.

A done occurrence (played, missed, skipped...) stays in its area's desired state for an hour after
its end, so that a receiver that was away still learns of it: with a bulletin a minute, sixty of
them. Done, it is held as its id alone, in memory and on disk, which is all it takes never to play
it again (in full, about 2.6 kB each: 156 MB for a simulated province of 1,000 receivers).
A source taken while the time was unknown from a message older than one already seen is marked
`needs_time`: its items wait until the time is known (docs/playout.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from loalang_protocol.messages import Occurrence, QuietHours

from ..audio.mixer import DEFAULT_DUCKING_DB
from ..storage import read_json, write_json_soon
from .arbiter import Item, Level

FAR_PAST_MS = 24 * 3600 * 1000
FAR_FUTURE_MS = 31 * 24 * 3600 * 1000


@dataclass(frozen=True)
class Rejection:
    """An occurrence refused while taking a desired state."""

    occurrence_id: str
    reason: str


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(map(str, first['loc']))}: {first['msg']}"[:200]


class Schedule:
    """Occurrences by where they came from ('device' or an area id), with the area's depth."""

    def __init__(self, path: Path) -> None:
        self.path = path
        data = read_json(path, {})
        self._sources: dict[str, dict[str, Any]] = dict(data.get("sources", {}))
        self.done: set[str] = set(data.get("done", []))
        # id -> (occurrence, depth, needs_time), of the occurrences not done
        self._occurrences: dict[str, tuple[Occurrence, int, bool]] = {}
        self._held: set[str] = set()  # the ids of every occurrence the sources hold, done or not
        self._quiet: QuietHours | None = None
        self._ducking_db: int | None = None
        self._rebuild()

    def take(self, source: str, depth: int, raw: list[dict[str, Any]], quiet: QuietHours | None,
             now_ms: int, needs_time: bool = False, ducking_db: int | None = None) -> list[Rejection]:
        """Replace the occurrences that came from source; returns the ones refused. With needs_time
        they play only once the time is known. An area's quiet hours and ducking level come along."""
        kept, held, rejected = [], [], []
        for entry in raw:
            occurrence_id = str(entry.get("id", "?"))[:48] if isinstance(entry, dict) else "?"
            try:
                occurrence = Occurrence.model_validate(entry)
            except ValidationError as exc:
                rejected.append(Rejection(occurrence_id, _describe(exc)))
                continue
            if occurrence.start_ms + occurrence.duration_ms < now_ms - FAR_PAST_MS:
                rejected.append(Rejection(occurrence.id, "start_ms is too far in the past"))
            elif occurrence.start_ms > now_ms + FAR_FUTURE_MS:
                rejected.append(Rejection(occurrence.id, "start_ms is too far in the future"))
            else:
                held.append(occurrence.id)
                if occurrence.id not in self.done:
                    kept.append(occurrence.model_dump())
        self._sources[source] = {"depth": depth, "occurrences": kept, "held": held, "needs_time": needs_time,
                                 "quiet": quiet.model_dump() if quiet else None, "ducking_db": ducking_db}
        self._rebuild()
        self.save()
        return rejected

    def _rebuild(self) -> None:
        """The occurrences not done, from every source (a file of an earlier release, which kept the
        done ones in full, is made compact here)."""
        self._occurrences, self._held = {}, set()
        deepest = deepest_ducking = -1
        for source in self._sources.values():
            needs_time = source.get("needs_time") is True
            held = set(source.get("held", ()))
            for raw in source.get("occurrences", []):
                occurrence = Occurrence.model_validate(raw)
                held.add(occurrence.id)
                if occurrence.id not in self.done:
                    self._occurrences[occurrence.id] = (occurrence, int(source["depth"]), needs_time)
            source["occurrences"] = [raw for raw in source.get("occurrences", [])
                                     if raw["id"] not in self.done]
            source["held"] = sorted(held)
            self._held |= held
            if source.get("quiet") and int(source["depth"]) > deepest:
                deepest, self._quiet = int(source["depth"]), QuietHours.model_validate(source["quiet"])
            ducking = source.get("ducking_db")
            if isinstance(ducking, int) and int(source["depth"]) > deepest_ducking:
                deepest_ducking, self._ducking_db = int(source["depth"]), ducking
        self.done &= self._held

    def save(self) -> None:
        """Write the schedule atomically, from the background writer."""
        write_json_soon(self.path, {"sources": self._sources, "done": sorted(self.done)})

    def mark_done(self, occurrence_id: str) -> None:
        """Never play this occurrence again (completed, missed, skipped, preempted, failed); from now
        on only its id is held."""
        self.done.add(occurrence_id)
        if self._occurrences.pop(occurrence_id, None) is not None:
            for source in self._sources.values():
                source["occurrences"] = [raw for raw in source.get("occurrences", [])
                                         if raw["id"] != occurrence_id]
        self.save()

    def occurrence(self, occurrence_id: str) -> Occurrence | None:
        """One occurrence not done, by id."""
        found = self._occurrences.get(occurrence_id)
        return found[0] if found else None

    def known(self) -> tuple[set[str], set[str]]:
        """The ids of every occurrence held (done or not) and the files the ones not done name."""
        return (set(self._held), {occ.source.sha256 for occ, _, _ in self._occurrences.values()
                                  if occ.source.type == "media"})

    def pending(self) -> list[tuple[Occurrence, Item]]:
        """Occurrences not done yet, with their arbiter items."""
        return [(occ, to_item(occ, depth, needs_time)) for occ, depth, needs_time
                in self._occurrences.values()]

    def media_needed(self, now_ms: int, horizon_ms: int) -> list[Occurrence]:
        """Occurrences with a file to fetch that start within the horizon, soonest first."""
        wanted = [occ for occ, _, _ in self._occurrences.values() if occ.source.type == "media"
                  and occ.start_ms <= now_ms + horizon_ms]
        return sorted(wanted, key=lambda occ: occ.start_ms)

    def ducking_db(self) -> int:
        """How far a background programme goes down under an announcement: the device's deepest
        area that says, else the default."""
        return self._ducking_db if self._ducking_db is not None else DEFAULT_DUCKING_DB

    def quiet_at(self, now_ms: int) -> bool:
        """Whether now falls in the quiet hours of the device's deepest area that sets them."""
        quiet = self._quiet
        if quiet is None:
            return False
        try:
            zone = ZoneInfo(quiet.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("Asia/Ho_Chi_Minh")
        local = datetime.fromtimestamp(now_ms / 1000, zone).time()
        start, end = time.fromisoformat(quiet.start), time.fromisoformat(quiet.end)
        return start <= local or local < end if start > end else start <= local < end


def to_item(occurrence: Occurrence, depth: int, needs_time: bool = False) -> Item:
    """The arbiter's view of an occurrence."""
    return Item(
        id=occurrence.id, level=Level[occurrence.level.upper()], start_ms=occurrence.start_ms,
        duration_ms=occurrence.duration_ms, area_depth=depth, issued_ms=occurrence.issued_ms,
        max_lateness_ms=occurrence.max_lateness_ms, valid_until_ms=occurrence.valid_until_ms,
        quiet_override=occurrence.quiet_override, stream=occurrence.source.type == "stream",
        needs_time=needs_time,
    )
