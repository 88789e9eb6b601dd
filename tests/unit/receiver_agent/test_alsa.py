"""The ALSA sink through libasound, on ALSA's null device (present wherever libasound is)."""

from __future__ import annotations

import pytest

from receiver_agent.audio.alsa import AlsaSink

pytestmark = pytest.mark.unit


def test_null_device_takes_audio_and_reports_its_delay() -> None:
    sink = AlsaSink("null", "Master")
    assert "null" in sink.check()
    accepted = sink.write(bytes(4800 * 2))
    assert 0 < accepted <= 4800 * 2
    assert sink.delay_frames() >= 0
    sink.flush()
    sink.close()


def test_missing_device_is_a_clear_error() -> None:
    sink = AlsaSink("hw:97,0", "Master")
    with pytest.raises(OSError, match="cannot open ALSA device hw:97,0"):
        sink.check()


def test_without_a_mixer_the_volume_becomes_decoder_gain() -> None:
    sink = AlsaSink("null", "NoSuchControl")
    sink.set_volume(40)
    assert sink.software_gain == pytest.approx(0.4)
