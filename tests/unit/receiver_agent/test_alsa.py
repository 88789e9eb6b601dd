"""The ALSA sink through libasound, on ALSA's null device (present wherever libasound is)."""

from __future__ import annotations

from typing import Any

import pytest

from receiver_agent.audio.alsa import AlsaSink

pytestmark = pytest.mark.unit


def test_null_device_takes_audio_and_reports_no_delay() -> None:
    sink = AlsaSink("null", "Master")
    assert "null" in sink.check()
    accepted = sink.write(bytes(4800 * 2))
    assert 0 < accepted <= 4800 * 2
    assert sink.delay_frames() == 0, "ALSA's null device holds nothing back"
    sink.flush()
    sink.close()


class DelayingLibrary:
    """libasound's snd_pcm_delay as a card with frames queued answers it (the null device has none)."""

    def __init__(self, frames: int, result: int = 0) -> None:
        self.frames, self.result = frames, result

    def snd_pcm_delay(self, pcm: object, delay: Any) -> int:
        delay._obj.value = self.frames  # through ctypes.byref, as libasound writes it
        return self.result


@pytest.mark.parametrize(("frames", "result", "reported"), [
    (960, 0, 960),  # 20 ms queued at 48 kHz
    (-32, 0, 0),  # an underrun reports a negative delay: nothing is queued
    (960, -32, 0),  # an error (EPIPE): nothing can be said, the player treats it as empty
])
def test_the_delay_is_what_the_card_reports(frames: int, result: int, reported: int) -> None:
    sink = AlsaSink("null", "Master")
    sink.check()
    sink.write(bytes(960 * 2))
    real = sink._lib
    sink._lib = DelayingLibrary(frames, result)  # type: ignore[assignment]
    try:
        assert sink.delay_frames() == reported
    finally:
        sink._lib = real
        sink.close()


def test_missing_device_is_a_clear_error() -> None:
    sink = AlsaSink("hw:97,0", "Master")
    with pytest.raises(OSError, match="cannot open ALSA device hw:97,0"):
        sink.check()


def test_without_a_mixer_the_volume_becomes_decoder_gain() -> None:
    sink = AlsaSink("null", "NoSuchControl")
    sink.set_volume(40)
    assert sink.software_gain == pytest.approx(0.4)
