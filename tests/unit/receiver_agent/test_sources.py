"""Each occurrence is decoded in the agent's own process where the format allows: a tone, the
attention signal and library files need no ffmpeg; any other file still plays, through ffmpeg."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loalang_protocol.messages import Occurrence
from receiver_agent.media import attention
from receiver_agent.playout.decoder import DecodeError, Decoder, PcmSource
from receiver_agent.playout.ogg_opus import OggOpusSource
from receiver_agent.playout.pcm_sources import ToneGenerator, WavSource
from receiver_agent.playout.sources import open_source
from tests.testkit import write_steps_wav
from tests.unit.receiver_agent.test_ogg_opus import dominant_hz, library_file

pytestmark = pytest.mark.unit

RATE = 48000


def occurrence(source: dict[str, Any], duration_ms: int = 2000) -> Occurrence:
    return Occurrence(id="o-1", level="normal", start_ms=0, duration_ms=duration_ms, source=source)


def pcm(source: PcmSource) -> np.ndarray:
    async def run() -> bytes:
        await source.start()
        try:
            chunks = []
            while chunk := await source.read(9600):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            await source.stop()
    return np.frombuffer(asyncio.run(run()), dtype="<i2").astype(float)


def test_a_tone_is_generated_here_from_its_position(tmp_path: Path) -> None:
    source = open_source(occurrence({"type": "tone", "frequency_hz": 1000}), 500, 1.0, None,
                         attention.ensure(tmp_path))
    assert isinstance(source, ToneGenerator)
    samples = pcm(source)
    assert len(samples) == 1.5 * RATE, "the rest of the tone after 500 ms"
    assert round(dominant_hz(samples)) == 1000
    assert np.max(np.abs(samples)) == pytest.approx(0.5 * 32767, rel=0.01), "half of full scale"
    assert np.max(np.abs(samples[:48])) < 0.5 * 32767 and np.max(np.abs(samples[-48:])) < 0.5 * 32767, \
        "faded in and out: no click"


def test_the_attention_signal_plays_from_its_wav(tmp_path: Path) -> None:
    chime = attention.ensure(tmp_path)
    source = open_source(occurrence({"type": "attention"}), 0, 0.5, None, chime)
    assert isinstance(source, WavSource)
    samples = pcm(source)
    expected = np.frombuffer(attention.chime_pcm(), dtype="<i2").astype(float)
    assert len(samples) == len(expected)
    assert np.max(np.abs(samples - expected * 0.5)) <= 1, "the chime at half volume"


def test_a_library_file_plays_here(tmp_path: Path) -> None:
    media = library_file(tmp_path, [440.0, 660.0])
    source = open_source(occurrence({"type": "media", "sha256": "0" * 64, "size": 1}), 1000, 1.0, media,
                         attention.ensure(tmp_path))
    assert isinstance(source, OggOpusSource)
    samples = pcm(source)
    assert len(samples) == RATE and round(dominant_hz(samples[4800:-4800])) == 660


def test_another_format_still_plays_through_ffmpeg(tmp_path: Path) -> None:
    mp3 = tmp_path / "other.mp3"
    wav = write_steps_wav(tmp_path / "a.wav", [500.0])
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(wav), "-ar", "44100", str(mp3)],
                   check=True)
    source = open_source(occurrence({"type": "media", "sha256": "0" * 64, "size": 1}), 0, 1.0, mp3,
                         attention.ensure(tmp_path))
    assert isinstance(source, Decoder)
    samples = pcm(source)
    assert abs(len(samples) - RATE) < 0.06 * RATE and round(dominant_hz(samples[4800:40000])) == 500


def test_a_file_gone_from_the_cache_fails_as_a_decoder_does(tmp_path: Path) -> None:
    source = open_source(occurrence({"type": "media", "sha256": "0" * 64, "size": 1}), 0, 1.0,
                         tmp_path / "gone", attention.ensure(tmp_path))
    with pytest.raises(DecodeError):
        pcm(source)
