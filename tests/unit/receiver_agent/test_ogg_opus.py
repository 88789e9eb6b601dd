"""Library files play from the agent's own process: the same audio ffmpeg would give, from any
position, at the volume asked, and a file this reader does not take goes to ffmpeg."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import numpy as np
import pytest

from receiver_agent.playout.decoder import Decoder
from receiver_agent.playout.ogg_opus import NotPlayableHere, OggOpusSource, is_ogg_opus
from tests.testkit import write_steps_wav

pytestmark = pytest.mark.unit

RATE = 48000
STEPS = [300.0, 350.0, 400.0, 450.0, 500.0, 550.0]  # one a second: the audio tells the position


def library_file(folder: Path, frequencies: list[float] = STEPS, channels: int = 1) -> Path:
    """An Ogg Opus file made as the controller's library makes it (libopus, 48 kHz, 32 kbit/s)."""
    source = write_steps_wav(folder / "steps.wav", frequencies)
    target = folder / f"steps-{channels}.opus"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(source), "-ac", str(channels),
                    "-ar", "48000", "-c:a", "libopus", "-b:a", "32k", "-f", "ogg", str(target)], check=True)
    return target


def ffmpeg_pcm(path: Path, position_ms: int = 0) -> np.ndarray:
    result = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-ss", f"{position_ms / 1000:.3f}",
                             "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", "48000", "-"],
                            check=True, capture_output=True)
    return np.frombuffer(result.stdout, dtype="<i2").astype(float)


def read_all(source: OggOpusSource) -> np.ndarray:
    async def run() -> bytes:
        await source.start()
        chunks = []
        while chunk := await source.read(4800 * 2):
            chunks.append(chunk)
        await source.stop()
        return b"".join(chunks)
    return np.frombuffer(asyncio.run(run()), dtype="<i2").astype(float)


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / RATE)[int(np.argmax(spectrum))])


def test_a_file_decodes_to_what_ffmpeg_gives(tmp_path: Path) -> None:
    path = library_file(tmp_path)
    assert is_ogg_opus(path)
    ours, theirs = read_all(OggOpusSource(path, 0, 1.0, "steps")), ffmpeg_pcm(path)
    assert len(ours) == len(theirs) == len(STEPS) * RATE, "pre-skip and end trimming as the file says"
    correlation = np.corrcoef(ours, theirs)[0, 1]
    assert correlation > 0.99
    assert [round(dominant_hz(ours[i * RATE + 4800:(i + 1) * RATE - 4800])) for i in range(len(STEPS))] == \
        [round(f) for f in STEPS]


@pytest.mark.parametrize("position_ms", [20, 1500, 3010, 3020, 5900])
def test_a_start_inside_the_file_gives_the_audio_from_there(tmp_path: Path, position_ms: int) -> None:
    path = library_file(tmp_path)
    whole = read_all(OggOpusSource(path, 0, 1.0, "steps"))
    part = read_all(OggOpusSource(path, position_ms, 1.0, "steps"))
    offset = position_ms * RATE // 1000
    assert len(part) == len(whole) - offset
    # Pages are a second long: a start just after one decodes from the page before (the pre-roll),
    # or its first 50 ms would differ by up to a third of full scale.
    assert np.max(np.abs(part - whole[offset:])) <= 16, "the same samples as played from the start"


def test_the_volume_is_applied_while_decoding(tmp_path: Path) -> None:
    path = library_file(tmp_path)
    full = read_all(OggOpusSource(path, 0, 1.0, "steps"))
    half = read_all(OggOpusSource(path, 0, 0.5, "steps"))
    assert np.sqrt(np.mean(half**2)) / np.sqrt(np.mean(full**2)) == pytest.approx(0.5, abs=0.01)
    assert not read_all(OggOpusSource(path, 0, 0.0, "steps")).any(), "volume 0 is silence"


def test_a_stereo_file_plays_mixed_to_the_one_channel(tmp_path: Path) -> None:
    path = library_file(tmp_path, STEPS[:2], channels=2)
    samples = read_all(OggOpusSource(path, 0, 1.0, "stereo"))
    assert len(samples) == 2 * RATE and round(dominant_hz(samples[4800:43200])) == 300


def test_what_is_not_ogg_opus_is_refused_here(tmp_path: Path) -> None:
    wav = write_steps_wav(tmp_path / "plain.wav", STEPS[:1])
    assert not is_ogg_opus(wav)
    with pytest.raises(NotPlayableHere):
        OggOpusSource(wav, 0, 1.0, "plain")
    cut = tmp_path / "cut.opus"
    cut.write_bytes(library_file(tmp_path).read_bytes()[:60])
    with pytest.raises(NotPlayableHere):
        OggOpusSource(cut, 0, 1.0, "cut")
    assert Decoder  # the engine's fallback, tested in test_sources.py
