"""The player's end of an item on a card whose delay never falls to zero."""

from __future__ import annotations

import asyncio
import time

import pytest

from receiver_agent.audio.null import NullSoundCard
from receiver_agent.playout.player import Player, Progress
from receiver_agent.playout.silence import SilentDecoder

pytestmark = pytest.mark.unit

SERVER_LATENCY_FRAMES = 477  # what PulseAudio's ALSA device reported, idle, on the test machine


class SoundServerCard(NullSoundCard):
    """A card behind a sound server: once its queue is empty it still reports the server's latency."""

    def delay_frames(self) -> int:
        return max(super().delay_frames(), SERVER_LATENCY_FRAMES)


def test_an_item_ends_once_its_audio_played_though_the_card_still_reports_a_delay() -> None:
    async def play() -> tuple[float, float]:
        start_at = time.time() * 1000 + 200
        async with asyncio.timeout(5):
            await Player(SoundServerCard()).play(SilentDecoder(500, "item"), start_at, Progress())
        return start_at, time.time() * 1000

    start_at, ended = asyncio.run(play())
    assert ended - start_at > 480, "the player waits until the card has played the item"
    assert ended - start_at < 800, f"the item ended {ended - start_at:.0f} ms after its start"
