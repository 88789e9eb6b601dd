"""The link's inbox: the kept lane first and never shed; the sheddable lane bounded, oldest shed first,
stale ones shed at their turn; every shed counted by class. A source over its own limit, for a
sheddable class or a kept class the limits name, is shed alone, and named to the flood sink."""

from __future__ import annotations

import asyncio
import time

import pytest

from loalang_protocol.inbox import Inbox, InboxLimits, SourceLimit

pytestmark = pytest.mark.unit


def by_leaf(topic: str) -> str | None:
    return "telemetry" if topic.endswith("/telemetry") else None


def drain(inbox: Inbox[str]) -> list[str]:
    """Everything the inbox gives until it has nothing more."""
    async def take() -> list[str]:
        taken = []
        while True:
            try:
                taken.append(await asyncio.wait_for(inbox.get(), 0.2))
            except TimeoutError:
                return taken
    return asyncio.run(take())


def test_a_flood_of_telemetry_never_pushes_out_a_receipt() -> None:
    inbox: Inbox[str] = Inbox(by_leaf, InboxLimits(shed_lane=100))
    for n in range(5_000):
        inbox.put("loa/v1/dev/d/telemetry", f"t{n}")
        if n == 2_500:
            inbox.put("loa/v1/dev/d/event", "receipt")
    taken = drain(inbox)
    assert taken[0] == "receipt", "kept messages are served first"
    assert taken[1:] == [f"t{n}" for n in range(4_900, 5_000)], "the newest telemetry stays"
    assert inbox.shed == {"telemetry": 4_900}


def test_what_waited_too_long_is_shed_at_its_turn() -> None:
    inbox: Inbox[str] = Inbox(by_leaf, InboxLimits(stale_s=0.05))
    inbox.put("loa/v1/dev/d/telemetry", "old")
    time.sleep(0.1)
    inbox.put("loa/v1/dev/d/telemetry", "fresh")
    inbox.put("loa/v1/dev/d/status", "birth")
    assert drain(inbox) == ["birth", "fresh"]
    assert inbox.shed == {"telemetry": 1}


def test_without_a_classifier_everything_is_kept_in_order() -> None:
    inbox: Inbox[str] = Inbox(None, InboxLimits(kept_max=3))
    for n in range(5):
        inbox.put("loa/v1/dev/d/telemetry", str(n))
    assert drain(inbox) == ["0", "1", "2"]
    assert inbox.shed == {"kept_overflow": 2}


def test_get_waits_for_the_next_message() -> None:
    async def scenario() -> str:
        inbox: Inbox[str] = Inbox()
        waiting = asyncio.create_task(inbox.get())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        inbox.put("loa/v1/dev/d/status", "birth")
        return await asyncio.wait_for(waiting, 1.0)
    assert asyncio.run(scenario()) == "birth"


def test_a_flooding_source_is_limited_alone() -> None:
    inbox: Inbox[str] = Inbox(by_leaf, InboxLimits(shed_lane=100, source_rate=1.0, source_burst=5),
                              source_of=lambda topic: topic.split("/")[3])
    for n in range(1_000):
        inbox.put("loa/v1/dev/flood/telemetry", f"f{n}")
    for n in range(3):
        inbox.put(f"loa/v1/dev/quiet-{n}/telemetry", f"q{n}")
    inbox.put("loa/v1/dev/flood/event", "receipt")
    taken = drain(inbox)
    assert taken[0] == "receipt", "what must be kept is never limited"
    assert [t for t in taken if t.startswith("q")] == ["q0", "q1", "q2"], "the others come through"
    assert len([t for t in taken if t.startswith("f")]) == 5, "the flooder gets its burst"
    assert inbox.shed == {"telemetry": 995} and inbox.flooders() == {"flood": 995}


def test_a_source_flooding_a_kept_class_sheds_only_its_own_excess_and_is_named() -> None:
    limits = InboxLimits(kept_per_source={"event": SourceLimit(rate=1.0, burst=3)})
    inbox: Inbox[str] = Inbox(by_leaf, limits, source_of=lambda topic: topic.split("/")[3],
                              kept_class=lambda topic: topic.rsplit("/", 1)[1])
    told: list[tuple[str, str]] = []
    inbox.on_flood = lambda source, kind: told.append((source, kind))
    for n in range(100):
        inbox.put("loa/v1/dev/flood/event", f"f{n}")
    inbox.put("loa/v1/dev/quiet/event", "receipt")
    inbox.put("loa/v1/dev/flood/status", "birth")  # a class the limits do not name is kept
    taken = drain(inbox)
    assert taken == ["f0", "f1", "f2", "receipt", "birth"]
    assert inbox.shed == {"event": 97} and inbox.flooders() == {"flood": 97}
    assert told == [("flood", "event")] * 97


def test_an_answer_the_owner_awaits_goes_before_everything_queued() -> None:
    inbox: Inbox[str] = Inbox(by_leaf)
    inbox.serve_first("$CONTROL/dynamic-security/v1/response")
    for number in range(400):
        inbox.put(f"loa/v1/dev/d{number}/status", f"birth {number}")
    inbox.put("loa/v1/dev/d1/telemetry", "telemetry")
    inbox.put("$CONTROL/dynamic-security/v1/response", "answer")
    taken = drain(inbox)
    assert taken[0] == "answer"
    assert taken[1:] == [f"birth {number}" for number in range(400)] + ["telemetry"]
