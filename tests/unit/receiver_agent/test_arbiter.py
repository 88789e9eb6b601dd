"""The arbiter's decisions, as a table of situations and the expected actions."""

from __future__ import annotations

import pytest

from receiver_agent.playout.arbiter import (
    RESUME_BACK_MS,
    Drop,
    Interrupt,
    Interrupted,
    Item,
    Level,
    Playing,
    Situation,
    Start,
    decide,
)

pytestmark = pytest.mark.unit

T = 1_000_000  # an instant, ms
MIN = 60_000


def item(name: str, level: Level = Level.NORMAL, start: int = T, duration: int = 2 * MIN,
         depth: int = 3, issued: int = 0, lateness: int = 5 * MIN, **kw: object) -> Item:
    return Item(id=name, level=level, start_ms=start, duration_ms=duration, area_depth=depth,
                issued_ms=issued, max_lateness_ms=lateness, **kw)  # type: ignore[arg-type]


NEWS = item("news")
NEWS_PRIORITY = item("priority-news", Level.PRIORITY)
STORM = item("storm", Level.EMERGENCY, duration=30_000)
MEETING = item("meeting", Level.LIVE, duration=10 * MIN)
RELAY = item("vov1", Level.BACKGROUND, start=T - 10 * MIN, duration=60 * MIN)
STATION = item("station", Level.BACKGROUND, duration=60 * MIN)
LIVE_STREAM = item("live", Level.LIVE, start=T - MIN, duration=12 * 60 * MIN, lateness=12 * 60 * MIN,
                   valid_until_ms=T + 20_000, stream=True)  # a live session, leased for 20 s more
PROVINCE_NEWS = item("province-news", depth=0)
COMMUNE_NEWS = item("commune-news", depth=2)
EARLY = item("early", issued=100)
LATE_ISSUE = item("late-issue", issued=200)


def _names(actions: list[object]) -> list[tuple[str, ...]]:
    out = []
    for action in actions:
        if isinstance(action, Start):
            out.append(("start", action.item.id, str(action.position_ms)))
        elif isinstance(action, Interrupt):
            out.append(("interrupt", action.item.id, str(action.position_ms)))
        elif isinstance(action, Drop):
            out.append(("drop", action.item.id, action.reason))
    return out


CASES = [
    ("idle, one item due: it starts",
     Situation(T, pending=(NEWS,)), [("start", "news", "0")]),
    ("item not yet due: nothing",
     Situation(T - 1, pending=(NEWS,)), []),
    ("emergency cuts a normal item at once",
     Situation(T + 5000, playing=Playing(NEWS, 5000), pending=(STORM,)),
     [("interrupt", "news", "5000"), ("start", "storm", "0")]),
    ("live cuts a priority item at once",
     Situation(T + 5000, playing=Playing(NEWS_PRIORITY, 5000), pending=(MEETING,)),
     [("interrupt", "priority-news", "5000"), ("start", "meeting", "0")]),
    ("emergency cuts live",
     Situation(T, playing=Playing(MEETING, 1000), pending=(STORM,)),
     [("interrupt", "meeting", "1000"), ("start", "storm", "0")]),
    ("live does not cut an emergency",
     Situation(T, playing=Playing(STORM, 1000), pending=(MEETING,)), []),
    ("priority waits for a normal item to finish",
     Situation(T + 5000, playing=Playing(NEWS, 5000), pending=(NEWS_PRIORITY,)), []),
    ("when it finishes, priority goes before normal",
     Situation(T + 5000, playing=Playing(item("old"), 120_000), playing_finished=True,
               pending=(NEWS, NEWS_PRIORITY)), [("start", "priority-news", "0")]),
    ("a background relay goes on under a normal item (the mixer lowers it)",
     Situation(T, bed=Playing(RELAY, 600_000), pending=(NEWS,)), [("start", "news", "0")]),
    ("a background relay goes on under a priority item",
     Situation(T, bed=Playing(RELAY, 600_000), pending=(NEWS_PRIORITY,)), [("start", "priority-news", "0")]),
    ("an emergency interrupts the relay before it starts",
     Situation(T, bed=Playing(RELAY, 600_000), pending=(STORM,)),
     [("interrupt", "vov1", "600000"), ("start", "storm", "0")]),
    ("an emergency cutting an announcement over a relay interrupts both, then starts",
     Situation(T + 5000, playing=Playing(NEWS, 5000), bed=Playing(RELAY, 600_000), pending=(STORM,)),
     [("interrupt", "news", "5000"), ("interrupt", "vov1", "600000"), ("start", "storm", "0")]),
    ("live interrupts the relay",
     Situation(T, bed=Playing(RELAY, 600_000), pending=(MEETING,)),
     [("interrupt", "vov1", "600000"), ("start", "meeting", "0")]),
    ("a relay due during an announcement starts under it",
     Situation(T, playing=Playing(NEWS, 1000), pending=(STATION,)), [("start", "station", "0")]),
    ("a relay due during an emergency waits",
     Situation(T, playing=Playing(STORM, 1000), pending=(STATION,)), []),
    ("after an emergency, the announcement and the relay both come back",
     Situation(T + 40_000, playing=Playing(STORM, 30_000), playing_finished=True,
               interrupted=(Interrupted(NEWS, 5000), Interrupted(RELAY, 600_000))),
     [("start", "news", "2000"), ("start", "vov1", "597000")]),
    ("a newer programme takes the bed's place",
     Situation(T, bed=Playing(RELAY, 600_000), pending=(item("music", Level.BACKGROUND),)),
     [("interrupt", "vov1", "600000"), ("start", "music", "0")]),
    ("a relay goes on when nothing else is due",
     Situation(T, bed=Playing(RELAY, 600_000), pending=(item("later", start=T + MIN),)), []),
    ("same level: the area nearer the root wins",
     Situation(T, pending=(COMMUNE_NEWS, PROVINCE_NEWS)), [("start", "province-news", "0")]),
    ("same level and area: the earlier issue wins",
     Situation(T, pending=(LATE_ISSUE, EARLY)), [("start", "early", "0")]),
    ("past its maximum lateness: missed",
     Situation(T + 6 * MIN, pending=(NEWS,)), [("drop", "news", "late")]),
    ("waiting past its lateness behind a long item: missed",
     Situation(T + 6 * MIN, playing=Playing(item("long", duration=60 * MIN), 6 * MIN), pending=(NEWS,)),
     [("drop", "news", "late")]),
    ("quiet hours: a normal item is skipped",
     Situation(T, pending=(NEWS,), quiet_hours=True), [("drop", "news", "quiet_hours")]),
    ("quiet hours: a signed override plays",
     Situation(T, pending=(item("override", quiet_override=True),), quiet_hours=True),
     [("start", "override", "0")]),
    ("quiet hours: an emergency plays",
     Situation(T, pending=(STORM,), quiet_hours=True), [("start", "storm", "0")]),
    ("time unknown: nothing scheduled plays",
     Situation(T, pending=(NEWS, NEWS_PRIORITY), time_known=False), []),
    ("time unknown: an emergency still plays",
     Situation(T, pending=(NEWS, STORM), time_known=False), [("start", "storm", "0")]),
    ("time unknown: an emergency from a message older than one already seen waits",
     Situation(T, pending=(item("old-storm", Level.EMERGENCY, needs_time=True),), time_known=False), []),
    ("time known again: a waiting emergency plays if still in time",
     Situation(T + MIN, pending=(item("old-storm", Level.EMERGENCY, needs_time=True),),
               time_known_since_ms=T + MIN), [("start", "old-storm", "0")]),
    ("time known again: a waiting item whose chance passed long ago is late",
     Situation(T + 30 * 24 * 60 * MIN, pending=(item("old-storm", Level.EMERGENCY, needs_time=True),),
               time_known_since_ms=T + 30 * 24 * 60 * MIN), [("drop", "old-storm", "late")]),
    ("time found after the item's chance passed: missed for that reason",
     Situation(T + 10 * MIN, pending=(NEWS,), time_known_since_ms=T + 9 * MIN),
     [("drop", "news", "time_unknown")]),
    ("after the emergency the cut item resumes a few seconds early",
     Situation(T + 40_000, interrupted=(Interrupted(NEWS, 20_000),)),
     [("start", "news", str(20_000 - RESUME_BACK_MS))]),
    ("a cut item whose window has closed is recorded as preempted",
     Situation(T + 7 * MIN, interrupted=(Interrupted(NEWS, 60_000),)),
     [("drop", "news", "preempted")]),
    ("after the emergency, a priority item due meanwhile goes before the cut normal item",
     Situation(T + 40_000, pending=(NEWS_PRIORITY,), interrupted=(Interrupted(NEWS, 20_000),)),
     [("start", "priority-news", "0")]),
    ("a second emergency does not cut the first",
     Situation(T, playing=Playing(STORM, 1000), pending=(item("flood", Level.EMERGENCY),)), []),
    ("resume near the start never goes below zero",
     Situation(T + 40_000, interrupted=(Interrupted(NEWS, 1_000),)), [("start", "news", "0")]),
    ("a live stream cut by an emergency goes on afterwards while its lease holds",
     Situation(T + 10_000, interrupted=(Interrupted(LIVE_STREAM, 50_000),)), [("start", "live", "0")]),
    ("a live stream whose lease ran out during the emergency is over",
     Situation(T + 21_000, interrupted=(Interrupted(LIVE_STREAM, 50_000),)),
     [("drop", "live", "preempted")]),
    ("quiet hours began during the emergency: the cut item is not resumed",
     Situation(T + 40_000, interrupted=(Interrupted(NEWS, 20_000),), quiet_hours=True),
     [("drop", "news", "preempted")]),
]


@pytest.mark.parametrize(("situation", "expected"), [(s, e) for _, s, e in CASES], ids=[c[0] for c in CASES])
def test_decision(situation: Situation, expected: list[tuple[str, ...]]) -> None:
    assert _names(decide(situation)) == expected


def test_levels_are_ordered_as_the_rules_say() -> None:
    assert Level.EMERGENCY > Level.LIVE > Level.PRIORITY > Level.NORMAL > Level.BACKGROUND
    assert Level.EMERGENCY.cuts_in and Level.LIVE.cuts_in and not Level.PRIORITY.cuts_in
