"""The binary audio chunk: a slim header, Opus frames and an Ed25519 signature.

Layout (big-endian)::

    offset size field
    0      2    magic b"LA"
    2      1    format version (1)
    3      1    key index (which stream key of the stream's signed metadata signed it)
    4      1    codec (1 = Opus, 2 = PCM s16le)
    5      1    flags (bit 0: first chunk after a discontinuity)
    6      4    sequence number, also the replay counter within the stream
    10     8    presentation time, µs in the controller's clock (expiry follows from it)
    18     4    duration, µs
    22     1    frame count N
    23     ...  N times: 2-byte length, then the frame
    end-64 64   signature over b"loa-chunk-v1\\0" + topic + b"\\0" + everything before it

A chunk of a few hundred milliseconds of 24 kbit/s Opus is about a kilobyte; header,
frame lengths and signature add about 120 bytes to it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .keys import KeyPair, verify_raw

MAGIC = b"LA"
CHUNK_VERSION = 1
SIGNATURE_SIZE = 64
MAX_FRAMES = 255
MAX_FRAME_BYTES = 4000
MAX_CHUNK_BYTES = 64 * 1024
DOMAIN = b"loa-chunk-v1\x00"
_HEADER = struct.Struct(">2sBBBBIqIB")


class Codec(IntEnum):
    """Audio codecs a chunk may carry."""

    OPUS = 1
    PCM_S16LE = 2


class ChunkError(ValueError):
    """A chunk is malformed or its signature is wrong; reason is a short stable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class AudioChunk:
    """One chunk of a live stream."""

    seq: int
    pts_us: int
    duration_us: int
    frames: tuple[bytes, ...]
    codec: Codec = Codec.OPUS
    key_index: int = 0
    discontinuity: bool = False
    signature: bytes = field(default=b"", compare=False)

    def unsigned_bytes(self) -> bytes:
        """Header and frames, the part the signature covers."""
        if not 0 < len(self.frames) <= MAX_FRAMES:
            raise ChunkError("malformed", f"a chunk holds 1 to {MAX_FRAMES} frames")
        if not (0 <= self.key_index < 256 and 0 <= self.seq < 2**32 and 0 <= self.duration_us < 2**32):
            raise ChunkError("malformed", "a header field is out of range")
        header = _HEADER.pack(
            MAGIC, CHUNK_VERSION, self.key_index, int(self.codec), int(self.discontinuity),
            self.seq, self.pts_us, self.duration_us, len(self.frames),
        )
        parts = [header]
        for frame in self.frames:
            if len(frame) > MAX_FRAME_BYTES:
                raise ChunkError("malformed", "frame too large")
            parts.append(struct.pack(">H", len(frame)) + frame)
        body = b"".join(parts)
        if len(body) + SIGNATURE_SIZE > MAX_CHUNK_BYTES:
            raise ChunkError("malformed", f"chunk of {len(body) + SIGNATURE_SIZE} bytes is over the limit")
        return body


def encode(chunk: AudioChunk, topic: str, key: KeyPair) -> bytes:
    """Serialise and sign a chunk for publication on topic."""
    body = chunk.unsigned_bytes()
    return body + key.sign(DOMAIN + topic.encode() + b"\x00" + body)


def decode(payload: bytes) -> AudioChunk:
    """Parse a chunk without checking its signature; raises ChunkError when malformed."""
    if not _HEADER.size + 2 + SIGNATURE_SIZE <= len(payload) <= MAX_CHUNK_BYTES:
        raise ChunkError("malformed", f"chunk of {len(payload)} bytes")
    magic, version, key_index, codec, flags, seq, pts, duration, count = _HEADER.unpack_from(payload)
    if magic != MAGIC:
        raise ChunkError("malformed", "not an audio chunk")
    if version != CHUNK_VERSION:
        raise ChunkError("unsupported_version", f"chunk format {version}")
    try:
        codec_value = Codec(codec)
    except ValueError:
        raise ChunkError("malformed", f"unknown codec {codec}") from None
    frames, offset = _read_frames(payload, _HEADER.size, count, len(payload) - SIGNATURE_SIZE)
    if offset != len(payload) - SIGNATURE_SIZE or count == 0:
        raise ChunkError("malformed", "frame lengths do not add up")
    return AudioChunk(
        seq=seq, pts_us=pts, duration_us=duration, frames=frames, codec=codec_value,
        key_index=key_index, discontinuity=bool(flags & 1), signature=payload[-SIGNATURE_SIZE:],
    )


def _read_frames(payload: bytes, offset: int, count: int, end: int) -> tuple[tuple[bytes, ...], int]:
    frames = []
    for _ in range(count):
        if offset + 2 > end:
            raise ChunkError("malformed", "truncated frame length")
        (length,) = struct.unpack_from(">H", payload, offset)
        offset += 2
        if offset + length > end:
            raise ChunkError("malformed", "truncated frame")
        frames.append(payload[offset:offset + length])
        offset += length
    return tuple(frames), offset


def verify(payload: bytes, topic: str, public_key: Ed25519PublicKey) -> AudioChunk:
    """Decode a chunk and check that public_key signed it for this topic."""
    chunk = decode(payload)
    body = payload[:-SIGNATURE_SIZE]
    if not verify_raw(public_key, chunk.signature, DOMAIN + topic.encode() + b"\x00" + body):
        raise ChunkError("bad_signature", f"chunk {chunk.seq}")
    return chunk
