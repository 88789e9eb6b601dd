"""The link's inbox: messages wait here between the socket and their handlers.

Two lanes, and a third served before both for the owner's own answers (`serve_first`): the
controller awaits the broker's answers to its account commands with a timeout, and they must not
wait behind hundreds of births sent again after a broker restart. What must never be lost
(receipts, reports, presence, replies) waits in the kept lane, which is served first. What may be
shed under load (telemetry, clock requests: the next one replaces it) waits in a short lane of its
own: when that lane is full the oldest is dropped, and one that waited longer than it is worth is
dropped when its turn comes. Every drop is counted by class, so overload is visible instead of
silent.

A source (a device) that sends sheddable messages faster than its fair rate is limited alone: a
token bucket per source sheds its excess on arrival, counted under its class and against the
source, so one flooding board cannot push everyone else's telemetry out of the lane. Kept classes
may be limited per source too (each class its own bucket, `InboxLimits.kept_per_source`), with
rates no sound board reaches: a board that floods births or events sheds only its own excess, and
what others must have kept still comes first. Each message shed for its source's excess is told to
`on_flood` (source, class), so the owner can tell an operator.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

Classifier = Callable[[str], str | None]
"""A topic's sheddable class (such as `telemetry`), or None for what must be kept."""

SourceOf = Callable[[str], str | None]
"""Who sent what arrived on a topic (a device id), or None when it is not limited per source."""

FloodSink = Callable[[str, str], None]
"""Told (source, class) of each message shed for its source's own excess."""

KEPT_MAX = 10_000  # a bound that only a broken peer reaches; kept messages beyond it are counted
SHED_LANE = 2_000
SHED_STALE_S = 5.0


SOURCES_TRACKED = 100_000  # buckets kept at most (a fleet); idle ones are forgotten beyond it
FLOODERS_SHOWN = 10


@dataclass(frozen=True)
class SourceLimit:
    """How many messages of one class one source may send: a second, and at once."""

    rate: float
    burst: float


@dataclass(frozen=True)
class InboxLimits:
    """How much the sheddable lane holds, how long its messages stay worth handling, and how many
    sheddable messages one source may send (a second, and at once)."""

    shed_lane: int = SHED_LANE
    stale_s: float = SHED_STALE_S
    kept_max: int = KEPT_MAX
    source_rate: float = 5.0  # a settling clock asks twice a second, telemetry comes once a minute
    source_burst: float = 50.0
    kept_per_source: Mapping[str, SourceLimit] = field(default_factory=dict)  # by kept class



class Buckets:
    """A token bucket per source, refilled at rate up to burst; bounded in number."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._tokens: dict[str, tuple[float, float]] = {}  # source -> (tokens, when counted)

    def take(self, source: str, now: float) -> bool:
        """Whether the source may send one more now."""
        tokens, then = self._tokens.get(source, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        allowed = tokens >= 1.0
        self._tokens[source] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._tokens) > SOURCES_TRACKED:
            self._forget_full(now)
        return allowed

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled (their sources are not flooding)."""
        refill_s = self.burst / self.rate
        self._tokens = {s: v for s, v in self._tokens.items() if now - v[1] < refill_s}


class Inbox(Generic[T]):
    """Two lanes, the kept one first (answers to the owner's requests before either); counts what
    it sheds, by class."""

    def __init__(self, classify: Classifier | None = None, limits: InboxLimits | None = None,
                 source_of: SourceOf | None = None, kept_class: Classifier | None = None) -> None:
        self.classify = classify
        self.limits = limits or InboxLimits()
        self.source_of = source_of
        self.kept_class = kept_class  # a kept topic's class, limited per source if the limits name it
        self.on_flood: FloodSink | None = None
        self.shed: dict[str, int] = {}
        self.flooded: dict[str, int] = {}  # source -> messages shed for its own excess
        self._buckets = Buckets(self.limits.source_rate, self.limits.source_burst)
        self._kept_buckets = {kind: Buckets(limit.rate, limit.burst)
                              for kind, limit in self.limits.kept_per_source.items()}
        self._kept: deque[T] = deque()
        self._sheddable: deque[tuple[str, float, T]] = deque()
        self._first_topics: set[str] = set()
        self._first: deque[T] = deque()
        self._ready = asyncio.Event()

    def serve_first(self, topic: str) -> None:
        """Hand what arrives on topic (exact, no wildcard) to its handler before anything queued:
        answers the owner awaits with a timeout. Only for topics that only the broker or the owner's
        peer may publish on, never a device's."""
        self._first_topics.add(topic)

    def put(self, topic: str, item: T) -> None:
        """Queue an item that arrived on topic (never blocks; drops and counts when it must)."""
        if topic in self._first_topics:
            self._put_first(item)
            return
        kind = self.classify(topic) if self.classify is not None else None
        if kind is None:
            self._put_kept(topic, item)
        else:
            self._put_sheddable(kind, topic, item)

    def _put_first(self, item: T) -> None:
        if len(self._first) >= self.limits.kept_max:
            self._count("answer_overflow")
            return
        self._first.append(item)
        self._ready.set()

    def _put_kept(self, topic: str, item: T) -> None:
        kind = self.kept_class(topic) if self.kept_class is not None else None
        buckets = self._kept_buckets.get(kind) if kind is not None else None
        if kind is not None and buckets is not None and self._over_source_limit(kind, buckets, topic):
            return
        if len(self._kept) >= self.limits.kept_max:
            self._count("kept_overflow")
            return
        self._kept.append(item)
        self._ready.set()

    def _put_sheddable(self, kind: str, topic: str, item: T) -> None:
        if self._over_source_limit(kind, self._buckets, topic):
            return
        if len(self._sheddable) >= self.limits.shed_lane:
            self._count(self._sheddable.popleft()[0])
        self._sheddable.append((kind, time.monotonic(), item))
        self._ready.set()

    def _over_source_limit(self, kind: str, buckets: Buckets, topic: str) -> bool:
        """Whether the message's source is over its limit (the message is then shed, counted)."""
        source = self.source_of(topic) if self.source_of is not None else None
        if source is None or buckets.take(source, time.monotonic()):
            return False
        self._count(kind)
        self._note_flood(source, kind)
        return True

    async def get(self) -> T:
        """The next item: an answer if any waits, else a kept one, else the oldest sheddable one
        still worth handling."""
        while True:
            if self._first:
                return self._first.popleft()
            if self._kept:
                return self._kept.popleft()
            while self._sheddable:
                kind, arrived, item = self._sheddable.popleft()
                if time.monotonic() - arrived <= self.limits.stale_s:
                    return item
                self._count(kind)
            self._ready.clear()
            await self._ready.wait()

    def __len__(self) -> int:
        return len(self._first) + len(self._kept) + len(self._sheddable)

    def flooders(self) -> dict[str, int]:
        """The sources shed most for their own excess, most first."""
        ranked = sorted(self.flooded.items(), key=lambda item: -item[1])[:FLOODERS_SHOWN]
        return dict(ranked)

    def _count(self, kind: str) -> None:
        self.shed[kind] = self.shed.get(kind, 0) + 1

    def _note_flood(self, source: str, kind: str) -> None:
        if self.on_flood is not None:
            self.on_flood(source, kind)
        if source not in self.flooded and len(self.flooded) >= SOURCES_TRACKED:
            return  # counted by class all the same
        self.flooded[source] = self.flooded.get(source, 0) + 1
