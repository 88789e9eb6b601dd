"""The link's inbox: messages wait here between the socket and their handlers.

Two lanes. What must never be lost (receipts, reports, presence, replies) waits in the kept lane,
which is served first. What may be shed under load (telemetry, clock requests: the next one
replaces it) waits in a short lane of its own: when that lane is full the oldest is dropped, and
one that waited longer than it is worth is dropped when its turn comes. Every drop is counted by
class, so overload is visible instead of silent.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

Classifier = Callable[[str], str | None]
"""A topic's sheddable class (such as `telemetry`), or None for what must be kept."""

KEPT_MAX = 10_000  # a bound that only a broken peer reaches; kept messages beyond it are counted
SHED_LANE = 2_000
SHED_STALE_S = 5.0


@dataclass(frozen=True)
class InboxLimits:
    """How much the sheddable lane holds and how long its messages stay worth handling."""

    shed_lane: int = SHED_LANE
    stale_s: float = SHED_STALE_S
    kept_max: int = KEPT_MAX


class Inbox(Generic[T]):
    """Two lanes, the kept one first; counts what it sheds, by class."""

    def __init__(self, classify: Classifier | None = None, limits: InboxLimits | None = None) -> None:
        self.classify = classify
        self.limits = limits or InboxLimits()
        self.shed: dict[str, int] = {}
        self._kept: deque[T] = deque()
        self._sheddable: deque[tuple[str, float, T]] = deque()
        self._ready = asyncio.Event()

    def put(self, topic: str, item: T) -> None:
        """Queue an item that arrived on topic (never blocks; drops and counts when it must)."""
        kind = self.classify(topic) if self.classify is not None else None
        if kind is None:
            if len(self._kept) >= self.limits.kept_max:
                self._count("kept_overflow")
                return
            self._kept.append(item)
        else:
            if len(self._sheddable) >= self.limits.shed_lane:
                self._count(self._sheddable.popleft()[0])
            self._sheddable.append((kind, time.monotonic(), item))
        self._ready.set()

    async def get(self) -> T:
        """The next item: a kept one if any waits, else the oldest sheddable one still worth handling."""
        while True:
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
        return len(self._kept) + len(self._sheddable)

    def _count(self, kind: str) -> None:
        self.shed[kind] = self.shed.get(kind, 0) + 1
