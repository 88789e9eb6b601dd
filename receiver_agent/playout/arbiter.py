"""The priority arbiter: a pure function from the situation to the actions to take.

Rules (docs/playout.md):
- Sources, highest first: emergency, live, priority, normal, background programme.
- Emergency and live cut in at once. Priority and normal never cut anything: they queue
  (priority first) and wait for the current item to end, until their maximum lateness has
  passed, after which they are missed.
- A background programme (a relayed station, music) plays on a slot of its own, the bed: under a
  normal or priority announcement it goes on lowered (the mixer ducks it), an emergency or a live
  broadcast interrupts it, and a newer programme takes its place.
- At the same level the item issued from the area nearer the root wins, then the earlier issue.
- An interrupted item resumes a few seconds before its cut point when its window still allows,
  otherwise it is recorded as preempted.
- During quiet hours only emergencies play, unless the occurrence carries a signed override.
- While the time is unknown nothing scheduled plays; an emergency, which carries fresh
  timestamps of its own, still does, unless it came in a message issued before the newest one
  the device had verified (`needs_time`: perhaps replayed). Items whose chance passed meanwhile
  are missed for that reason; a `needs_time` item judged late once the time is known is simply late.

No I/O and no clock: the engine passes the time in and carries the actions out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

RESUME_BACK_MS = 3_000
DEFAULT_MAX_LATENESS_MS = 300_000


class Level(IntEnum):
    """Source classes, higher wins."""

    BACKGROUND = 0
    NORMAL = 1
    PRIORITY = 2
    LIVE = 3
    EMERGENCY = 4

    @property
    def cuts_in(self) -> bool:
        """Emergency and live interrupt whatever plays below them."""
        return self >= Level.LIVE


@dataclass(frozen=True)
class Item:
    """One occurrence to play."""

    id: str
    level: Level
    start_ms: int
    duration_ms: int
    area_depth: int = 0  # 0 for the root (province); larger is nearer the village
    issued_ms: int = 0
    max_lateness_ms: int = DEFAULT_MAX_LATENESS_MS
    valid_until_ms: int | None = None
    quiet_override: bool = False
    stream: bool = False  # a live stream: no position; it goes on where it is while its lease holds
    needs_time: bool = False  # from a message older than one already seen: plays only with a known time

    @property
    def window_end_ms(self) -> int:
        """After this instant the item must not be playing any more."""
        if self.valid_until_ms is not None:
            return self.valid_until_ms
        return self.start_ms + self.max_lateness_ms + self.duration_ms

    def rank(self) -> tuple[int, int, int]:
        """Order of precedence: level, then nearer the root, then issued earlier."""
        return (int(self.level), -self.area_depth, -self.issued_ms)

    def too_late(self, now_ms: int) -> bool:
        """Whether it can no longer start (background relays and cut-ins never start late)."""
        return now_ms > self.start_ms + self.max_lateness_ms or now_ms >= self.window_end_ms


@dataclass(frozen=True)
class Playing:
    """What is on air and how far it got."""

    item: Item
    position_ms: int


@dataclass(frozen=True)
class Interrupted:
    """An item cut by a higher one, waiting to resume."""

    item: Item
    cut_at_ms: int


@dataclass(frozen=True)
class Situation:
    """Everything the arbiter looks at."""

    now_ms: int
    playing: Playing | None = None  # the announcement slot: anything but a background programme
    bed: Playing | None = None  # the background programme, lowered under an announcement
    pending: tuple[Item, ...] = ()
    interrupted: tuple[Interrupted, ...] = ()
    quiet_hours: bool = False
    time_known: bool = True
    time_known_since_ms: int = 0  # when the time became known (after a boot without it)
    playing_finished: bool = False
    bed_finished: bool = False


@dataclass(frozen=True)
class Start:
    """Start (or resume) item from position_ms."""

    item: Item
    position_ms: int = 0


@dataclass(frozen=True)
class Interrupt:
    """Cut the item on air at position_ms; it may resume later."""

    item: Item
    position_ms: int


@dataclass(frozen=True)
class Drop:
    """Record an item as not (fully) played, with the reason for its receipt."""

    item: Item
    reason: str  # late, quiet_hours, time_unknown, preempted
    position_ms: int = 0


Action = Start | Interrupt | Drop


@dataclass
class _Plan:
    actions: list[Action] = field(default_factory=list)

    def drop(self, item: Item, reason: str, position_ms: int = 0) -> None:
        self.actions.append(Drop(item, reason, position_ms))

    def interrupt_first(self, interrupt: Interrupt) -> None:
        """An interruption that must come before the starts already planned."""
        first_start = next((n for n, a in enumerate(self.actions) if isinstance(a, Start)), len(self.actions))
        self.actions.insert(first_start, interrupt)


def decide(situation: Situation) -> list[Action]:
    """The actions to take now, in order: the announcement slot first, then the bed (whose
    interruption goes before any start, so a cut-in is heard alone)."""
    plan = _Plan()
    candidates = _eligible(situation, plan)
    announcements = [item for item in candidates if item.level != Level.BACKGROUND]
    programmes = [item for item in candidates if item.level == Level.BACKGROUND]
    on_air = _decide_announcement(situation, announcements, plan)
    _decide_bed(situation, programmes, on_air, plan)
    return plan.actions


def _decide_announcement(situation: Situation, announcements: list[Item], plan: _Plan) -> Item | None:
    """Start, cut or keep what plays in the announcement slot; returns what will be on air there."""
    playing = None if situation.playing_finished else situation.playing
    best = max(announcements, key=Item.rank, default=None)
    if playing is not None:
        if best is not None and best.level.cuts_in and best.rank() > playing.item.rank():
            plan.actions.append(Interrupt(playing.item, playing.position_ms))
            plan.actions.append(Start(best))
            return best
        return playing.item
    resumable = _resumable(situation, plan, background=False)
    return _start_best(announcements, resumable, plan)


def _decide_bed(situation: Situation, programmes: list[Item], on_air: Item | None, plan: _Plan) -> None:
    """The background programme: cut by an emergency or a live broadcast, replaced by a newer one,
    resumed or started when the bed is free."""
    bed = None if situation.bed_finished else situation.bed
    if on_air is not None and on_air.level.cuts_in:
        if bed is not None:
            plan.interrupt_first(Interrupt(bed.item, bed.position_ms))
        return  # programmes due meanwhile wait for it to end
    if bed is not None:
        best = max(programmes, key=Item.rank, default=None)
        if best is not None:
            plan.actions.append(Interrupt(bed.item, bed.position_ms))
            plan.actions.append(Start(best))
        return
    _start_best(programmes, _resumable(situation, plan, background=True), plan)


def _start_best(due: list[Item], resumable: list[Interrupted], plan: _Plan) -> Item | None:
    """Start the highest of the due and the resumable items (a resumed file a little before its cut)."""
    choice = max([*due, *[i.item for i in resumable]], key=Item.rank, default=None)
    if choice is None:
        return None
    cut = next((i for i in resumable if i.item is choice), None)
    position = max(0, cut.cut_at_ms - RESUME_BACK_MS) if cut and not choice.stream else 0
    plan.actions.append(Start(choice, position))
    return choice


def _eligible(situation: Situation, plan: _Plan) -> list[Item]:
    """Due items that may start now; the others are dropped with their reason or left waiting."""
    now = situation.now_ms
    eligible = []
    for item in situation.pending:
        if not situation.time_known and (item.level != Level.EMERGENCY or item.needs_time):
            continue  # nothing scheduled plays while the time is unknown
        if item.start_ms > now:
            continue
        if item.too_late(now):
            blind_window = item.start_ms + item.max_lateness_ms < situation.time_known_since_ms
            missed_blind = blind_window and not item.needs_time
            plan.drop(item, "time_unknown" if missed_blind else "late")
        elif situation.quiet_hours and item.level != Level.EMERGENCY and not item.quiet_override:
            plan.drop(item, "quiet_hours")
        else:
            eligible.append(item)
    return eligible


def _resumable(situation: Situation, plan: _Plan, background: bool) -> list[Interrupted]:
    """Interrupted items of one slot that may still resume; the others are recorded as preempted."""
    now = situation.now_ms
    keep = []
    for cut in situation.interrupted:
        if (cut.item.level == Level.BACKGROUND) != background:
            continue
        remaining = cut.item.duration_ms - max(0, cut.cut_at_ms - RESUME_BACK_MS)
        blocked = situation.quiet_hours and cut.item.level != Level.EMERGENCY and not cut.item.quiet_override
        goes_on = cut.item.level == Level.BACKGROUND or cut.item.stream
        if goes_on and now < cut.item.window_end_ms and not blocked:
            keep.append(cut)  # a relay or a live stream simply goes on where it is
        elif now + remaining <= cut.item.window_end_ms and not blocked:
            keep.append(cut)
        else:
            plan.drop(cut.item, "preempted", cut.cut_at_ms)
    return keep
