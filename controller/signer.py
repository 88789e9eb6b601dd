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


class Signer:
    """Seals message bodies for their topics."""

    def __init__(self, keyring: Keyring, redis: Redis) -> None:
        self.keyring = keyring
        self.redis = redis

    async def next_counter(self) -> Counter:
        """A counter greater than any this controller fleet issued before."""
        await self.redis.set(EPOCH_KEY, int(time.time() * 1000), nx=True)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(EPOCH_KEY)
            pipe.incr(SEQ_KEY)
            epoch, seq = await pipe.execute()
        return Counter(int(epoch), int(seq))

    async def seal(self, topic: str, body: dict[str, Any], ttl_s: float) -> bytes:
        """Sign body for topic; the certificate travels along so devices can check the key."""
        counter = await self.next_counter()
        return envelope.seal(topic, body, self.keyring.signing, counter, ttl_s, self.keyring.certificate)
