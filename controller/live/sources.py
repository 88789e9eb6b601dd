"""Where live audio comes from: a relayed station pulled by ffmpeg, or the operator's microphone.

Both give 48 kHz mono s16le PCM blocks as they arrive. A relay is any HTTP(S) stream ffmpeg can
read (Icecast/Shoutcast MP3, AAC or Ogg, and HLS playlists); nothing but HTTP(S) is allowed, so
an operator cannot make the controller read its own files or other protocols. The microphone's
PCM comes from the console over a WebSocket (see docs/live.md) and is queued here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import ffmpeg

from ..media import tools
from .chunker import FRAME_BYTES, SAMPLE_RATE

ALLOWED_SCHEMES = ("http", "https")
PROTOCOLS = "http,https,tcp,tls,crypto,httpproxy"
MAX_URL_LENGTH = 2000
READ_TIMEOUT_US = 10_000_000  # a station silent on the wire for 10 s is gone
# A station's format is told from its first 16 KB and half a second of audio, which a server's
# burst on connect already holds. By default ffmpeg reads up to 1 MB to tell the format: an MP3
# station at 64 kbit/s then gave its first sample only after 7 s.
PROBE_BYTES = 16_384
PROBE_US = 500_000
MIC_QUEUE_BLOCKS = 500  # about 10 s of 20 ms blocks; beyond that the operator's link is hopeless


class SourceError(ValueError):
    """A source cannot be used; the message says why."""


def check_relay_url(url: str) -> str:
    """The URL when a relay may read it; SourceError otherwise."""
    if len(url) > MAX_URL_LENGTH or any(ord(c) < 33 for c in url):
        raise SourceError("the station URL is too long or contains spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ALLOWED_SCHEMES or not parts.hostname:
        raise SourceError("a relayed station is an http:// or https:// URL with a host")
    return url


def shown_url(url: str) -> str:
    """The URL without any user name or password, for logs and the API."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def relay_arguments(url: str, proxy: str) -> list[str]:
    """ffmpeg's arguments to pull a station through proxy (every connection, redirects and HLS
    segments included) and give it as PCM on stdout."""
    stream = ffmpeg.input(check_relay_url(url), protocol_whitelist=PROTOCOLS, rw_timeout=READ_TIMEOUT_US,
                          http_proxy=proxy,
                          formatprobesize=PROBE_BYTES, probesize=PROBE_BYTES, analyzeduration=PROBE_US,
                          reconnect=1, reconnect_streamed=1, reconnect_delay_max=4)
    output = ffmpeg.output(stream, "pipe:", format="s16le", acodec="pcm_s16le", ac=1, ar=SAMPLE_RATE)
    args: list[str] = output.global_args("-hide_banner", "-nostdin", "-loglevel", "error").compile()
    return args


async def relay_pcm(url: str, proxy: str) -> AsyncIterator[bytes]:
    """The station's audio as PCM blocks, as ffmpeg delivers them; ends when the station does."""
    async for block in tools.stream(relay_arguments(url, proxy), block_bytes=FRAME_BYTES * 2):
        yield block


class MicrophoneFeed:
    """PCM blocks pushed by the console's WebSocket, read by the live session."""

    def __init__(self) -> None:
        self._blocks: asyncio.Queue[bytes | None] = asyncio.Queue(MIC_QUEUE_BLOCKS)
        self.dropped = 0

    def push(self, pcm: bytes) -> None:
        """Queue a block; when the session cannot keep up the block is dropped (and counted)."""
        try:
            self._blocks.put_nowait(pcm)
        except asyncio.QueueFull:
            self.dropped += 1

    def close(self) -> None:
        """The operator stopped talking (or the socket closed)."""
        while True:
            try:
                self._blocks.put_nowait(None)
                return
            except asyncio.QueueFull:
                self._blocks.get_nowait()

    async def blocks(self) -> AsyncIterator[bytes]:
        """The blocks in order, until closed."""
        while (block := await self._blocks.get()) is not None:
            yield block
