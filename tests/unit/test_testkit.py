"""The suite's own audio analysis places each sound at the time the card played it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from receiver_agent.audio.simulated import SimulatedSoundCard
from receiver_agent.audio.tone import sine
from tests.testkit import dominant_frequencies

pytestmark = pytest.mark.unit


def test_a_sound_after_the_card_paused_is_placed_when_it_played(tmp_path: Path) -> None:
    """A tone ending mid-window, a pause, then another tone: the window holding the end of the first
    must not carry the second's frequency at the first's time."""
    card = SimulatedSoundCard(tmp_path)
    card.write(sine(660, 0.32))  # ends early in the fourth 100 ms window
    time.sleep(0.9)  # the card goes idle and its clock stops
    second_at = time.time()
    card.write(sine(1000, 0.5))
    time.sleep(0.7)
    card.close()
    heard = dominant_frequencies(tmp_path)
    first_1k = min(t for t, f in heard if abs(f - 1000) < 20)
    assert first_1k >= second_at - 0.02, f"1 kHz placed {second_at - first_1k:.2f} s before it was played"
    assert [round(f) for t, f in heard if t < second_at] == [660, 660, 660]
    assert len([f for _, f in heard if abs(f - 1000) < 20]) == 5
