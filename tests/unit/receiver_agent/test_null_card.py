"""The null sound card and the silent decoder a simulated province runs on."""

from __future__ import annotations

import asyncio
import time

import pytest

from receiver_agent.audio.null import BUFFER_S, NullSoundCard
from receiver_agent.audio.sink import SAMPLE_BYTES, SAMPLE_RATE
from receiver_agent.playout.player import Player, Progress
from receiver_agent.playout.silence import SilentDecoder

pytestmark = pytest.mark.unit

ONE_SECOND = bytes(SAMPLE_RATE * SAMPLE_BYTES)


def test_the_delay_drains_on_the_wall_clock() -> None:
    now = [1000.0]
    card = NullSoundCard(clock=lambda: now[0])
    assert card.write(ONE_SECOND) == len(ONE_SECOND)
    assert card.delay_frames() == SAMPLE_RATE
    now[0] += 0.2
    assert card.delay_frames() == SAMPLE_RATE * 0.8
    now[0] += 5
    assert card.delay_frames() == 0


def test_the_buffer_is_bounded_and_a_flush_empties_it() -> None:
    now = [1000.0]
    card = NullSoundCard(clock=lambda: now[0])
    total = sum(card.write(ONE_SECOND) for _ in range(int(BUFFER_S) + 3))
    assert total == BUFFER_S * SAMPLE_RATE * SAMPLE_BYTES
    assert card.write(ONE_SECOND) == 0, "a full card takes nothing"
    now[0] += 0.5
    assert card.write(ONE_SECOND) == len(ONE_SECOND) // 2, "what drained meanwhile"
    card.flush()
    assert card.delay_frames() == 0


def test_silence_lasts_the_item_and_comes_in_long_chunks() -> None:
    async def read_all() -> list[int]:
        decoder = SilentDecoder(2_500, "item")
        await decoder.start()
        sizes = []
        while chunk := await decoder.read(9_600):
            assert not any(chunk[:100])
            sizes.append(len(chunk))
        return sizes

    sizes = asyncio.run(read_all())
    assert sum(sizes) == 2_500 * SAMPLE_RATE // 1000 * SAMPLE_BYTES
    assert len(sizes) == 3, "one-second chunks: few wake-ups"


def test_the_player_starts_on_the_null_card_at_the_instant() -> None:
    """The timing code is the board's: the start it reports is the instant asked for."""
    async def play() -> tuple[float, Progress, float]:
        card, progress = NullSoundCard(), Progress()
        start_at = time.time() * 1000 + 300
        await Player(card).play(SilentDecoder(500, "item"), start_at, progress)
        return start_at, progress, time.time() * 1000

    start_at, progress, ended = asyncio.run(play())
    assert progress.started_wall_ms is not None
    assert abs(progress.started_wall_ms - start_at) < 5, progress.started_wall_ms - start_at
    assert ended - start_at > 480, "the player waits until the card has played the item"
