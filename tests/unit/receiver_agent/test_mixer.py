"""The mixer: an announcement over a background programme on the simulated card, measured from what
the card played."""

from __future__ import annotations

import array
import asyncio
import time
from pathlib import Path

import pytest

from receiver_agent.audio.mixer import Mixer, mix_block
from receiver_agent.audio.simulated import SimulatedSoundCard
from receiver_agent.playout.pcm_sources import ToneGenerator
from receiver_agent.playout.player import Player, Progress
from tests.testkit import band_level_db, tone_onset_in_mix, wall_clock_audio

pytestmark = pytest.mark.unit

PROGRAMME_HZ, VOICE_HZ = 440.0, 2000.0


def test_a_block_is_the_voice_plus_the_programme_at_its_gain_clipped() -> None:
    voice = array.array("h", [1000, -1000, 30000, 0]).tobytes()
    programme = array.array("h", [10000, 10000, 10000, -20000]).tobytes()
    mixed, gain = mix_block(voice, programme, 0.5, 0.5, 0.1)
    assert array.array("h", mixed).tolist() == [6000, 4000, 32767, -10000] and gain == 0.5


def test_a_gain_moves_toward_its_target_a_step_a_sample_and_stops_there() -> None:
    programme = array.array("h", [10000] * 5).tobytes()
    mixed, gain = mix_block(bytes(10), programme, 1.0, 0.7, 0.1)
    assert array.array("h", mixed).tolist() == pytest.approx([9000, 8000, 7000, 7000, 7000], abs=1)  # Q15
    assert gain == 0.7


def play_programme_and_announcement(card_folder: Path, ducking_db: float, voice_at_s: float = 1.0,
                                    voice_s: float = 1.0, programme_s: float = 3.7) -> tuple[float, Mixer]:
    """A programme tone on the bed from now on, an announcement tone on main voice_at_s later;
    returns when the announcement was to start (wall time, s) and the mixer."""
    card = SimulatedSoundCard(card_folder)
    mixer = Mixer(card, ducking_db=ducking_db)

    async def scenario() -> float:
        now_ms = time.time() * 1000
        tone = ToneGenerator(PROGRAMME_HZ, int(programme_s * 1000), 0, 1.0, "programme")
        programme = asyncio.create_task(Player(mixer.bed).play(tone, now_ms + 50, Progress()))
        voice_at = now_ms + voice_at_s * 1000
        await Player(mixer.main).play(ToneGenerator(VOICE_HZ, int(voice_s * 1000), 0, 1.0, "voice"), voice_at,
                                      Progress())
        mixer.main.release()
        await programme
        mixer.bed.release()
        await asyncio.sleep(0.3)
        await mixer.close()
        return voice_at / 1000

    try:
        return asyncio.run(scenario()), mixer
    finally:
        card.close()


def test_an_announcement_lowers_the_programme_by_the_ducking_and_it_comes_back(tmp_path: Path) -> None:
    voice_at, mixer = play_programme_and_announcement(tmp_path / "card", ducking_db=-15)
    heard = wall_clock_audio(tmp_path / "card")

    def programme(start: float, length: float = 0.2) -> float:
        return band_level_db(heard, PROGRAMME_HZ, start, length)

    full = programme(voice_at - 0.7, 0.4)
    assert full == pytest.approx(-6.0, abs=0.5), "the tone generator's level, before the announcement"
    onset = tone_onset_in_mix(heard, VOICE_HZ, voice_at - 0.5)
    assert onset is not None and abs(onset - voice_at) < 0.02, "the announcement starts on time"
    assert programme(voice_at - 0.25) == pytest.approx(full, abs=0.5), "not lowered before the announcement"
    lowered = programme(voice_at + 0.3, 0.6)
    assert lowered - full == pytest.approx(-15.0, abs=0.5), "lowered by the ducking within the fade"
    ends = voice_at + 1.0
    assert programme(ends + 0.3) < full - 10, "down for the hold: two announcements in a row are one dip"
    assert programme(ends + 0.9, 0.6) == pytest.approx(full, abs=0.5), "back after the hold and the fade"
    assert not mixer.mixing and mixer.mixed_frames > 0


def test_the_ducking_level_is_what_the_area_sets(tmp_path: Path) -> None:
    voice_at, _ = play_programme_and_announcement(tmp_path / "card", ducking_db=-25, programme_s=2.3)
    heard = wall_clock_audio(tmp_path / "card")
    drop = band_level_db(heard, PROGRAMME_HZ, voice_at + 0.3, 0.6) - band_level_db(
        heard, PROGRAMME_HZ, voice_at - 0.7, 0.4)
    assert drop == pytest.approx(-25.0, abs=0.7)


def test_one_source_alone_goes_straight_to_the_card(tmp_path: Path) -> None:
    card = SimulatedSoundCard(tmp_path / "card")
    mixer = Mixer(card)

    async def scenario() -> float:
        at = time.time() * 1000 + 300
        await Player(mixer.main).play(ToneGenerator(VOICE_HZ, 500, 0, 1.0, "voice"), at, Progress())
        return at / 1000

    try:
        at = asyncio.run(scenario())
    finally:
        card.close()
    heard = wall_clock_audio(tmp_path / "card")
    onset = tone_onset_in_mix(heard, VOICE_HZ, at - 0.2)
    assert onset is not None and abs(onset - at) < 0.02 and mixer.mixed_frames == 0


def test_stopping_both_sources_silences_the_card_at_once(tmp_path: Path) -> None:
    """A cut-in stops the announcement and the programme: what was mixed ahead is dropped too."""
    card = SimulatedSoundCard(tmp_path / "card")
    mixer = Mixer(card)

    async def scenario() -> None:
        now_ms = time.time() * 1000
        programme = asyncio.create_task(Player(mixer.bed).play(
            ToneGenerator(PROGRAMME_HZ, 5000, 0, 1.0, "programme"), now_ms + 50, Progress()))
        voice = asyncio.create_task(Player(mixer.main).play(
            ToneGenerator(VOICE_HZ, 5000, 0, 1.0, "voice"), now_ms + 600, Progress()))
        await asyncio.sleep(1.2)
        assert mixer.mixing
        for task in (voice, programme):
            task.cancel()
        await asyncio.gather(voice, programme, return_exceptions=True)
        mixer.main.flush()
        mixer.bed.flush()
        assert not mixer.mixing and card.delay_frames() <= 480, "at most the period being played"

    try:
        asyncio.run(scenario())
    finally:
        card.close()
