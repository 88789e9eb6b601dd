"""A live broadcast's record: the Opus packets it put on the air, kept as an Ogg Opus file (RFC 7845).

What the encoder made for the loudspeakers is written as it is, packet for packet, never encoded
again: the record is exactly what was broadcast. Packets are 20 ms of 48 kHz mono; a page holds a
second of them (50 packets), so a cut in the middle of a broadcast loses at most the last second
and leaves a file every Ogg reader opens (the last page it wrote is whole). The granule position
of a page counts the samples up to the end of its last packet, the encoder's pre-skip included.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

CAPTURE = b"OggS"
FIRST_PAGE = 0x02
LAST_PAGE = 0x04
PAGE_HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, type, granule, serial, sequence, crc, segments
OPUS_HEAD = struct.Struct("<8sBBHIhB")  # magic, version, channels, pre-skip, rate, gain, mapping
SAMPLE_RATE = 48_000
PACKET_SAMPLES = 960  # 20 ms
PACKETS_PER_PAGE = 50
PRE_SKIP = 312  # libopus's look-ahead at 48 kHz: the samples a decoder drops first
VENDOR = b"loalang"
MAX_PACKET_BYTES = 1275
MAX_SEGMENTS = 255


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return table


_CRC = _crc_table()


def ogg_crc(data: bytes) -> int:
    """Ogg's page checksum: CRC-32 with polynomial 0x04C11DB7, not reflected, starting from 0."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[((crc >> 24) ^ byte) & 0xFF]
    return crc


def lacing(length: int) -> bytes:
    """The segment table entries of one packet: 255s, then what remains (0 when it divides)."""
    return bytes([255] * (length // 255) + [length % 255])


class OggOpusWriter:
    """Writes Opus packets (mono, 48 kHz, 20 ms each) as one Ogg Opus stream."""

    def __init__(self, out: BinaryIO, serial: int, title: str = "", pre_skip: int = PRE_SKIP) -> None:
        self.out = out
        self.serial = serial & 0xFFFFFFFF
        self.sequence = 0
        self.pre_skip = pre_skip
        self.samples = pre_skip
        self._packets: list[bytes] = []
        head = OPUS_HEAD.pack(b"OpusHead", 1, 1, pre_skip, SAMPLE_RATE, 0, 0)
        self._page([head], granule=0, flags=FIRST_PAGE)
        comments = [f"TITLE={title}".encode()] if title else []
        tags = (b"OpusTags" + struct.pack("<I", len(VENDOR)) + VENDOR + struct.pack("<I", len(comments))
                + b"".join(struct.pack("<I", len(c)) + c for c in comments))
        self._page([tags], granule=0)

    def write(self, packet: bytes) -> None:
        """One 20 ms packet; a page goes out every PACKETS_PER_PAGE (sooner when its segment table,
        255 entries at most, is full)."""
        if not 0 < len(packet) <= MAX_PACKET_BYTES:
            raise ValueError(f"an Opus packet is 1 to {MAX_PACKET_BYTES} bytes")
        if sum(len(lacing(len(p))) for p in self._packets) + len(lacing(len(packet))) > MAX_SEGMENTS:
            self._flush(0)
        self._packets.append(packet)
        self.samples += PACKET_SAMPLES
        if len(self._packets) == PACKETS_PER_PAGE:
            self._flush(0)

    def close(self) -> None:
        """The last page, marked the stream's end (empty when nothing waits: a page of no packet)."""
        self._flush(LAST_PAGE)
        self.out.flush()

    @property
    def duration_s(self) -> float:
        """What has been written, in seconds."""
        return (self.samples - self.pre_skip) / SAMPLE_RATE

    def _flush(self, flags: int) -> None:
        self._page(self._packets, granule=self.samples, flags=flags)
        self._packets = []

    def _page(self, packets: list[bytes], granule: int, flags: int = 0) -> None:
        segments = b"".join(lacing(len(packet)) for packet in packets)
        header = PAGE_HEADER.pack(CAPTURE, 0, flags, granule, self.serial, self.sequence, 0, len(segments))
        page = header + segments + b"".join(packets)
        crc = ogg_crc(page)
        self.out.write(page[:22] + struct.pack("<I", crc) + page[26:])
        self.sequence += 1
