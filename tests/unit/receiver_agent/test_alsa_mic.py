"""The ALSA microphone through libasound, on ALSA's null device (present wherever libasound is):
captured in real time (the null device, which answers at once, is paced), kept with wall times,
given back for a stretch of time; a missing device is a clear error."""

from __future__ import annotations

import time

import pytest

from receiver_agent.audio.alsa_mic import AlsaMicrophone
from receiver_agent.audio.sink import SAMPLE_BYTES, SAMPLE_RATE

pytestmark = pytest.mark.unit


def test_the_null_device_is_captured_in_real_time_and_given_back_by_wall_time() -> None:
    microphone = AlsaMicrophone("null")
    began = time.time()
    microphone.start()
    try:
        time.sleep(1.0)
        kept = len(microphone._periods)
        assert 60 <= kept <= 140, f"{kept} periods of 10 ms in a second"
        stretch = microphone.heard(began + 0.2, began + 0.7)
        assert len(stretch) == round(0.5 * SAMPLE_RATE) * SAMPLE_BYTES
        assert microphone.heard(began - 60, began - 59) == b"", "not captured then: no recording, not silence"
    finally:
        microphone.close()


def test_a_missing_device_is_told_and_gives_no_recording(caplog: pytest.LogCaptureFixture) -> None:
    microphone = AlsaMicrophone("hw:97,0")
    began = time.time()
    microphone.start()
    try:
        time.sleep(0.3)
        assert "cannot open ALSA capture device hw:97,0" in caplog.text
        assert microphone.heard(began, began + 0.2) == b""
    finally:
        microphone.close()


def test_periods_are_placed_at_their_wall_time() -> None:
    microphone = AlsaMicrophone("null")
    microphone._periods.append((100.0, b"\x01\x00" * 480))
    microphone._periods.append((100.01, b"\x02\x00" * 480))
    heard = microphone.heard(100.005, 100.015)
    assert heard == b"\x01\x00" * 240 + b"\x02\x00" * 240
