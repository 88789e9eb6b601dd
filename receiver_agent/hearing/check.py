"""The hearing check of one play: the first seconds the agent sent, against what the microphone heard.

When an item has played, the check waits until the microphone has had time to hear its end (the
acoustic path's longest delay), takes the microphone's recording from just before the first sample
sounded, and judges it (analysis.py) in a worker thread, off the event loop. The sent audio is
what the player wrote, before the card's mixer: a card that sets the volume in hardware (the
simulated card, an ALSA mixer) is heard that much quieter, so its volume is taken out of the level.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, replace

from ..audio.microphone import Microphone
from ..audio.sink import SAMPLE_BYTES, SAMPLE_RATE
from .analysis import MAX_DELAY_S, Heard, judge, unknown

LEAD_IN_S = 0.5  # the microphone's recording starts this long before the first sample: the village alone
JUDGED_S = 10.0  # the opening judged: enough sound to tell, and a bounded cost for hour-long items
AFTER_S = MAX_DELAY_S + 0.1


def silence(seconds: float) -> bytes:
    return bytes(round(seconds * SAMPLE_RATE) * SAMPLE_BYTES)


@dataclass(frozen=True)
class Played:
    """One play to judge."""

    first_sample_at: float  # when its first sample sounded: system wall time, s (the microphone's clock)
    opening: bytes  # the audio sent from there, at most JUDGED_S
    mixer_volume: int | None  # the card mixer's volume, percent; None when the audio sent carried it


class HearingCheck:
    """Judges plays with one microphone."""

    def __init__(self, microphone: Microphone) -> None:
        self.microphone = microphone

    async def verdict(self, played: Played) -> Heard:
        """Whether the play was heard."""
        if played.mixer_volume == 0:
            return unknown("muted")
        if not played.opening:
            return unknown("nothing_sent")
        start = played.first_sample_at
        end = start + len(played.opening) / (SAMPLE_RATE * SAMPLE_BYTES) + AFTER_S
        await asyncio.sleep(max(0.0, end - time.time()))
        heard = await asyncio.to_thread(self.microphone.heard, start - LEAD_IN_S, end)
        sent = silence(LEAD_IN_S) + played.opening + silence(AFTER_S)
        verdict = await asyncio.to_thread(judge, sent, heard, LEAD_IN_S)
        if played.mixer_volume is None or verdict.level_db is None:
            return verdict
        return _without_mixer(verdict, played.mixer_volume)


def _without_mixer(verdict: Heard, volume: int) -> Heard:
    """The level of the path alone, the mixer's attenuation taken out."""
    assert verdict.level_db is not None
    return replace(verdict, level_db=verdict.level_db - 20 * math.log10(volume / 100))
