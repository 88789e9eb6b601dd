"""The signer's replay counters: increasing across calls and within a batch, a new epoch after Redis
was wiped."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from redis.asyncio import Redis

from controller.keyring import Keyring, init_keys
from controller.signer import EPOCH_KEY, SEQ_KEY, Signer
from loalang_protocol import envelope
from tests.testkit import Stack

pytestmark = pytest.mark.unit


def test_counters_increase_in_a_batch_across_calls_and_after_a_wipe(stack: Stack, tmp_path: Path) -> None:
    async def scenario() -> None:
        redis = Redis(port=stack.redis_port, db=5)
        await redis.delete(EPOCH_KEY, SEQ_KEY)
        init_keys(tmp_path / "keys", cert_days=30)
        signer = Signer(Keyring.load(tmp_path / "keys"), redis)
        first = await signer.next_counter()
        batch = await signer.next_counters(500)
        after = await signer.next_counter()
        series = [first, *batch, after]
        assert all(a.as_tuple() < b.as_tuple() for a, b in itertools.pairwise(series)), "increasing"
        assert len({c.epoch for c in series}) == 1

        sealed = await signer.seal_many([(f"loa/v1/dev/d-{n}/event-ack", {"n": n}) for n in range(3)], 60)
        counters = [envelope.Counter(doc["epoch"], doc["seq"]) for doc in map(envelope.parse, sealed)]
        assert [c.as_tuple() for c in counters] == sorted(c.as_tuple() for c in counters)
        assert counters[0].as_tuple() > after.as_tuple()

        await redis.delete(EPOCH_KEY, SEQ_KEY)  # Redis wiped: a later epoch, so never a repeat
        await asyncio.sleep(0.002)
        assert (await signer.next_counter()).as_tuple() > after.as_tuple()
        await redis.delete(EPOCH_KEY, SEQ_KEY)
        await redis.aclose()

    asyncio.run(scenario())
