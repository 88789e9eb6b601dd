"""Library files (Ogg Opus) decoded in the agent's own process, from any position.

The library stores every item as Ogg Opus (RFC 7845), and the agent already links libopus for live
audio: decoding a file here needs no ffmpeg process beside the agent (some 50 MB of resident memory
on Debian, most of it the libraries ffmpeg links). The file is read page by page; a start inside
it decodes from a page at least 80 ms before the position (the pre-roll RFC 7845 asks for) and
drops what comes before. The header's output gain and the card's software volume are applied by
libopus itself. Streams this reader does not take (several channels' mapping, a chained file)
are left to ffmpeg.
"""

from __future__ import annotations

import ctypes
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import opuslib
import opuslib.api

from ..audio.sink import SAMPLE_BYTES, SAMPLE_RATE
from .decoder import DecodeError

PAGE_HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, type, granule, serial, sequence, crc, segments
CAPTURE = b"OggS"
CONTINUED = 0x01  # the page's first packet began on an earlier page
PREROLL_SAMPLES = 80 * SAMPLE_RATE // 1000
MAX_PACKET_SAMPLES = 120 * SAMPLE_RATE // 1000
OPUS_HEAD = struct.Struct("<8sBBHIhB")  # magic, version, channels, pre-skip, rate, gain (Q7.8 dB), mapping
MIN_GAIN_Q8 = -32768  # libopus's gain is Q8 dB in 16 bits: -128 dB is silence
MAX_GAIN_Q8 = 32767


class NotPlayableHere(ValueError):
    """The file is not an Ogg Opus stream this reader decodes (ffmpeg plays it instead)."""


@dataclass(frozen=True)
class Page:
    """One Ogg page: where its body is, its packets' lengths (a last one of 255 runs on), and the
    granule position (48 kHz samples) at the end of the last packet completed on it (-1: none)."""

    body_offset: int
    lacing: bytes
    granule: int
    continued: bool

    @property
    def body_size(self) -> int:
        """Bytes of packet data on the page."""
        return sum(self.lacing)


@dataclass(frozen=True)
class OpusHead:
    """What the identification header says about decoding."""

    channels: int
    pre_skip: int
    output_gain_q8: int


def read_pages(file: BinaryIO) -> list[Page]:
    """Every page header of the file's single logical stream, in order."""
    pages: list[Page] = []
    serial: int | None = None
    file.seek(0)
    while header := file.read(PAGE_HEADER.size):
        if len(header) < PAGE_HEADER.size:
            raise NotPlayableHere("the file ends inside a page header")
        capture, version, kind, granule, page_serial, _, _, segments = PAGE_HEADER.unpack(header)
        if capture != CAPTURE or version != 0:
            raise NotPlayableHere("not an Ogg page")
        lacing = file.read(segments)
        if serial is None:
            serial = page_serial
        elif page_serial != serial:
            raise NotPlayableHere("more than one logical stream")
        page = Page(file.tell(), lacing, granule, bool(kind & CONTINUED))
        file.seek(page.body_size, 1)
        pages.append(page)
    return pages


def page_packets(file: BinaryIO, pages: list[Page], first: int) -> Iterator[tuple[int, bytes]]:
    """(index of the page each packet ends on, packet), from the first packet that begins on page
    first; a packet still open at the end of the file is dropped."""
    partial = b""
    skipping = pages[first].continued  # the tail of a packet that began before: not ours
    for index in range(first, len(pages)):
        page = pages[index]
        file.seek(page.body_offset)
        body = file.read(page.body_size)
        start = 0
        for length in page.lacing:
            partial += body[start:start + length]
            start += length
            if length < 255:
                if not skipping:
                    yield index, partial
                partial, skipping = b"", False


def parse_head(packet: bytes) -> OpusHead:
    """The OpusHead packet; NotPlayableHere when it is not one this reader decodes."""
    if len(packet) < OPUS_HEAD.size or not packet.startswith(b"OpusHead"):
        raise NotPlayableHere("no OpusHead")
    _, version, channels, pre_skip, _, gain, mapping = OPUS_HEAD.unpack_from(packet)
    if version >> 4 != 0 or mapping != 0 or channels not in (1, 2):
        raise NotPlayableHere(f"Opus mapping family {mapping} with {channels} channels")
    return OpusHead(channels, pre_skip, gain)


_PACKET_SAMPLES = opuslib.api.libopus.opus_packet_get_nb_samples  # opuslib does not wrap it
_PACKET_SAMPLES.argtypes = (ctypes.c_char_p, ctypes.c_int32, ctypes.c_int32)
_PACKET_SAMPLES.restype = ctypes.c_int


def packet_samples(packet: bytes) -> int:
    """How many 48 kHz samples an Opus packet holds (libopus reads its TOC), 0 for a malformed one."""
    return max(0, _PACKET_SAMPLES(packet, len(packet), SAMPLE_RATE)) if packet else 0


class OggOpusFile:
    """An Ogg Opus file's layout: its header, its pages, and where its audio starts and ends."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.pages = read_pages(file)
        if not self.pages:
            raise NotPlayableHere("an empty file")
        packets = page_packets(file, self.pages, 0)
        head = next(packets, None)
        tags = next(packets, None)
        if head is None or tags is None or not tags[1].startswith(b"OpusTags"):
            raise NotPlayableHere("no Opus headers")
        self.head = parse_head(head[1])
        self.first_audio_page = tags[0] + 1  # RFC 7845: audio begins on the page after the tags
        if self.first_audio_page >= len(self.pages):
            raise NotPlayableHere("no audio")
        self.end_granule = max(page.granule for page in self.pages)
        self._starts = self._page_starts()

    def _page_starts(self) -> dict[int, int]:
        """The granule position at the start of each audio page that begins a packet."""
        first = self.pages[self.first_audio_page]
        completed = 0
        for index, packet in page_packets(self.file, self.pages, self.first_audio_page):
            if index > self.first_audio_page:
                break
            completed += packet_samples(packet)
        starts = {self.first_audio_page: first.granule - completed}
        granule = first.granule
        for index in range(self.first_audio_page + 1, len(self.pages)):
            page = self.pages[index]
            if not page.continued:
                starts[index] = granule
            if page.granule >= 0:
                granule = page.granule
        return starts

    def decode_from(self, pcm_position: int) -> tuple[int, int]:
        """(page to decode from, granule position at its start) for a start at pcm_position samples
        of the file's audio, with the pre-roll before it."""
        wanted = pcm_position + self.head.pre_skip - PREROLL_SAMPLES
        chosen = self.first_audio_page
        for index, granule in self._starts.items():
            if granule <= wanted and index > chosen:
                chosen = index
        return chosen, self._starts[chosen]


class OggOpusSource:
    """A PcmSource: 48 kHz mono s16le PCM of a library file from a position, decoded here."""

    def __init__(self, path: Path, position_ms: int, gain: float, name: str) -> None:
        self.name = name
        self._file = path.open("rb")
        try:
            self._layout = OggOpusFile(self._file)
        except BaseException:
            self._file.close()
            raise
        self._decoder = opuslib.Decoder(SAMPLE_RATE, 1)
        self._decoder.gain = decoder_gain_q8(self._layout.head.output_gain_q8, gain)
        self._position = position_ms * SAMPLE_RATE // 1000
        self._pending = b""
        self._packets: Iterator[tuple[int, bytes]] = iter(())
        self._granule = 0  # granule position of the next sample decoded

    async def start(self) -> None:
        """Find the page to decode from; nothing to spawn."""
        first_page, self._granule = self._layout.decode_from(self._position)
        self._packets = page_packets(self._file, self._layout.pages, first_page)

    async def read(self, size: int) -> bytes:
        """Up to size bytes of PCM (whole samples); b"" at the end of the audio."""
        while len(self._pending) < size:
            try:
                pcm = self._next_pcm()
            except (OSError, ValueError, IndexError) as exc:  # the file changed under the reader
                raise DecodeError(f"{self.name}: {exc!r}"[:300]) from None
            if pcm is None:
                break
            self._pending += pcm
        taken = min(size - size % SAMPLE_BYTES, len(self._pending))
        chunk, self._pending = self._pending[:taken], self._pending[taken:]
        return chunk

    def _next_pcm(self) -> bytes | None:
        """The next packet's samples that belong to the output (possibly none); None at the end."""
        head, end = self._layout.head, self._layout.end_granule
        for _, packet in self._packets:
            try:
                pcm: bytes = self._decoder.decode(packet, MAX_PACKET_SAMPLES)
            except opuslib.OpusError:  # the cache checked the file's hash: a packet the encoder made
                pcm = bytes(packet_samples(packet) * SAMPLE_BYTES)
            first = self._granule
            self._granule += len(pcm) // SAMPLE_BYTES
            keep_from = max(first, self._position + head.pre_skip)
            keep_to = min(self._granule, end)
            if keep_to <= keep_from:
                if first >= end:
                    return None
                continue
            return pcm[(keep_from - first) * SAMPLE_BYTES:(keep_to - first) * SAMPLE_BYTES]
        return None

    async def stop(self) -> None:
        """Close the file."""
        self._file.close()


def decoder_gain_q8(output_gain_q8: int, gain: float) -> int:
    """libopus's gain (Q8 dB): the file's output gain plus the software volume."""
    if gain <= 0:
        return MIN_GAIN_Q8
    total = output_gain_q8 + round(20 * math.log10(gain) * 256)
    return max(MIN_GAIN_Q8, min(MAX_GAIN_Q8, total))


def is_ogg_opus(path: Path) -> bool:
    """Whether the file starts as an Ogg Opus stream (the library's format)."""
    with path.open("rb") as file:
        header = file.read(PAGE_HEADER.size)
        if len(header) < PAGE_HEADER.size or not header.startswith(CAPTURE):
            return False
        file.seek(header[-1], 1)  # the lacing table
        return file.read(8) == b"OpusHead"
