"""The simulator's own garbage collections: short pauses, and still free what became garbage after
it was frozen (the collector never looks at frozen objects unless they are unfrozen first)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from receiver_agent import simulate

pytestmark = pytest.mark.unit


class _Node:
    """One object in a cycle with itself: only the cycle collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def collector_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    thresholds = gc.get_threshold()
    monkeypatch.setattr(simulate, "COLLECT_EVERY_S", 0.01)
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_a_cycle_that_became_garbage_after_it_was_frozen_is_freed(collector_settings: None) -> None:
    async def scenario() -> None:
        node = _Node()
        gone = weakref.ref(node)
        collector = asyncio.create_task(simulate._keep_collections_short([]))
        try:
            while gc.get_freeze_count() == 0:  # a collection ran and froze the survivors, the node too
                await asyncio.sleep(0.01)
            del node
            for _ in range(500):
                if gone() is None:
                    break
                await asyncio.sleep(0.01)
            assert gone() is None, "a cycle frozen while alive was never freed"
        finally:
            collector.cancel()
            await asyncio.gather(collector, return_exceptions=True)

    asyncio.run(scenario())
