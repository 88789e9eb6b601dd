"""A live broadcast's record: the packets written as Ogg Opus decode (ffmpeg, and the agent's own
reader) to the audio that was encoded, at its length; each page's checksum is Ogg's; a large packet
never overflows a page's segment table."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest

from controller.live.chunker import FRAME_SAMPLES, OpusEncoder
from controller.live.recording import OggOpusWriter, lacing, ogg_crc
from receiver_agent.playout.ogg_opus import read_pages

pytestmark = pytest.mark.unit

RATE = 48_000


def tone_packets(seconds: float, hz: float, bitrate: int = 32_000) -> list[bytes]:
    encoder = OpusEncoder(bitrate)
    t = np.arange(int(seconds * RATE)) / RATE
    pcm = (0.4 * np.sin(2 * np.pi * hz * t) * 32767).astype("<i2").tobytes()
    step = FRAME_SAMPLES * 2
    return [encoder.encode(pcm[i:i + step]) for i in range(0, len(pcm) - step + 1, step)]


def decoded(path: Path) -> np.ndarray:
    command = ["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", str(RATE), "-"]
    raw = subprocess.run(command, capture_output=True, check=True, timeout=60).stdout
    return np.frombuffer(raw, dtype="<i2").astype(float)


def test_the_record_decodes_to_what_was_encoded_at_its_length(tmp_path: Path) -> None:
    path = tmp_path / "live.opus"
    with path.open("wb") as out:
        writer = OggOpusWriter(out, serial=7, title="Trực tiếp: họp dân")
        for packet in tone_packets(3.0, 700.0):
            writer.write(packet)
        writer.close()
    assert writer.duration_s == pytest.approx(3.0, abs=0.001)
    audio = decoded(path)
    assert len(audio) / RATE == pytest.approx(3.0, abs=0.03), "the pre-skip dropped, nothing added"
    middle = audio[RATE // 2: RATE // 2 + RATE]
    peak_hz = np.argmax(np.abs(np.fft.rfft(middle))) * RATE / len(middle)
    assert peak_hz == pytest.approx(700.0, abs=2.0)
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream_tags=title", "-of",
                            "default=nw=1:nk=1", str(path)], capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == "Trực tiếp: họp dân"
    with path.open("rb") as file:
        pages = read_pages(file)
    assert pages[-1].granule == writer.samples, "the last page's granule counts every sample"


def test_every_page_carries_oggs_checksum() -> None:
    out = io.BytesIO()
    writer = OggOpusWriter(out, serial=1)
    for packet in tone_packets(1.5, 440.0):
        writer.write(packet)
    writer.close()
    data, offset, pages = out.getvalue(), 0, 0
    while offset < len(data):
        segments = data[offset + 26]
        size = 27 + segments + sum(data[offset + 27:offset + 27 + segments])
        page = data[offset:offset + size]
        assert int.from_bytes(page[22:26], "little") == ogg_crc(page[:22] + bytes(4) + page[26:])
        offset, pages = offset + size, pages + 1
    assert pages == 2 + 2, "head, tags, a second of packets, the rest with the stream's end"


def test_large_packets_never_overflow_a_page() -> None:
    out = io.BytesIO()
    writer = OggOpusWriter(out, serial=2)
    for _ in range(120):
        writer.write(bytes(1000))  # 4 segments each: 63 to a page, not 50
    writer.close()
    assert lacing(1000) == bytes([255, 255, 255, 235]) and lacing(510) == bytes([255, 255, 0])
    with pytest.raises(ValueError):
        writer.write(bytes(1276))
