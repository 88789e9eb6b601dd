"""Signs what the controller publishes, with a replay counter shared by every controller instance.

The counter is (epoch, sequence). The sequence is a Redis counter; the epoch is the time in
milliseconds when the counter was first created, so a Redis that was wiped or restored starts
a new, higher epoch instead of repeating old sequence numbers.
"""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import Redis

from loalang_protocol import envelope
from loalang_protocol.envelope import Counter

from .keyring import Keyring

EPOCH_KEY = "loa:sig:epoch"
SEQ_KEY = "loa:sig:seq"
# One round trip for the epoch (made on first use) and a block of sequence numbers.
_RESERVE = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return {redis.call('GET', KEYS[1]), redis.call('INCRBY', KEYS[2], ARGV[2])}
"""


class Signer:
    """Seals message bodies for their topics."""

    def __init__(self, keyring: Keyring, redis: Redis) -> None:
        self.keyring = keyring
        self.redis = redis

    async def next_counter(self) -> Counter:
        """A counter greater than any this controller fleet issued before."""
        [counter] = await self.next_counters(1)
        return counter

    async def next_counters(self, count: int) -> list[Counter]:
        """count counters, increasing, greater than any issued before, in one round trip (to be
        used at once: another instance's later counters are greater)."""
        epoch, last = await self.redis.eval(_RESERVE, 2, EPOCH_KEY, SEQ_KEY, int(time.time() * 1000), count)
        return [Counter(int(epoch), int(last) - count + 1 + index) for index in range(count)]

    async def seal(self, topic: str, body: dict[str, Any], ttl_s: float) -> bytes:
        """Sign body for topic; the certificate travels along so devices can check the key."""
        [sealed] = await self.seal_many([(topic, body)], ttl_s)
        return sealed

    async def seal_many(self, messages: list[tuple[str, dict[str, Any]]], ttl_s: float) -> list[bytes]:
        """Sign many (topic, body) at once: one counter reservation for all."""
        if not messages:
            return []
        counters = await self.next_counters(len(messages))
        return [envelope.seal(topic, body, self.keyring.signing, counter, ttl_s, self.keyring.certificate)
                for (topic, body), counter in zip(messages, counters, strict=True)]
