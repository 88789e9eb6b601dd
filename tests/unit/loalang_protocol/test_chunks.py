"""The binary signed audio chunk."""

from __future__ import annotations

import random
import struct

import pytest

from loalang_protocol import topics
from loalang_protocol.chunks import (
    _HEADER,
    CHUNK_VERSION,
    MAGIC,
    MAX_CHUNK_BYTES,
    MAX_FRAME_BYTES,
    MAX_FRAMES,
    SIGNATURE_SIZE,
    AudioChunk,
    ChunkError,
    Codec,
    decode,
    encode,
    verify,
)
from loalang_protocol.keys import KeyPair

pytestmark = pytest.mark.unit

TOPIC = topics.stream("live-1", topics.StreamTopic.CHUNK)
OTHER_TOPIC = topics.stream("live-2", topics.StreamTopic.CHUNK)
HEADER_SIZE = 23  # documented layout: offsets 0..22


@pytest.fixture(scope="module")
def key() -> KeyPair:
    return KeyPair.generate()


def _chunk(**changes: object) -> AudioChunk:
    fields: dict[str, object] = {
        "seq": 42,
        "pts_us": 1_700_000_000_000_000,
        "duration_us": 300_000,
        "frames": tuple(bytes([i]) * 60 for i in range(15)),
    }
    fields.update(changes)
    return AudioChunk(**fields)  # type: ignore[arg-type]


def _reason(payload: bytes, topic: str | None = None, key: KeyPair | None = None) -> str:
    with pytest.raises(ChunkError) as info:
        if key is None:
            decode(payload)
        else:
            verify(payload, topic or TOPIC, key.private.public_key())
    return info.value.reason


def _resign(body: bytes, key: KeyPair, topic: str = TOPIC) -> bytes:
    return body + key.sign(b"loa-chunk-v1\x00" + topic.encode() + b"\x00" + body)


# --- layout and round trip ----------------------------------------------------------------


def test_header_size_matches_documented_layout() -> None:
    assert _HEADER.size == HEADER_SIZE


def test_documented_byte_layout(key: KeyPair) -> None:
    chunk = _chunk(key_index=3, codec=Codec.PCM_S16LE, discontinuity=True, frames=(b"ab", b"cde"))
    payload = encode(chunk, TOPIC, key)
    assert payload[0:2] == MAGIC == b"LA"
    assert payload[2] == CHUNK_VERSION == 1
    assert payload[3] == 3
    assert payload[4] == 2
    assert payload[5] == 1
    assert struct.unpack(">I", payload[6:10])[0] == 42
    assert struct.unpack(">q", payload[10:18])[0] == 1_700_000_000_000_000
    assert struct.unpack(">I", payload[18:22])[0] == 300_000
    assert payload[22] == 2
    assert payload[23:25] == b"\x00\x02" and payload[25:27] == b"ab"
    assert payload[27:29] == b"\x00\x03" and payload[29:32] == b"cde"
    assert len(payload) == 32 + SIGNATURE_SIZE


@pytest.mark.parametrize(
    "chunk",
    [
        _chunk(),
        _chunk(frames=(b"",)),
        _chunk(frames=(b"x",), seq=0, pts_us=0, duration_us=0),
        _chunk(seq=2**32 - 1, pts_us=-5, duration_us=2**32 - 1, key_index=255),
        _chunk(codec=Codec.PCM_S16LE, discontinuity=True),
        _chunk(frames=tuple(b"f" * 10 for _ in range(MAX_FRAMES))),
        _chunk(frames=(b"\x00" * MAX_FRAME_BYTES,)),
        _chunk(frames=(b"", b"a", b"")),
    ],
)
def test_encode_decode_verify_round_trip(key: KeyPair, chunk: AudioChunk) -> None:
    payload = encode(chunk, TOPIC, key)
    decoded = decode(payload)
    assert decoded == chunk  # the signature does not take part in equality
    assert decoded.frames == chunk.frames
    assert decoded.codec is chunk.codec
    assert decoded.discontinuity is chunk.discontinuity
    assert decoded.signature == payload[-SIGNATURE_SIZE:]
    assert len(decoded.signature) == SIGNATURE_SIZE
    verified = verify(payload, TOPIC, key.private.public_key())
    assert verified == chunk
    assert verified.key_index == chunk.key_index
    assert verified.seq == chunk.seq and verified.pts_us == chunk.pts_us


def test_unknown_flag_bits_are_ignored(key: KeyPair) -> None:
    body = bytearray(_chunk().unsigned_bytes())
    body[5] = 0b1111_1110
    assert decode(_resign(bytes(body), key)).discontinuity is False
    body[5] = 0b1000_0001
    assert decode(_resign(bytes(body), key)).discontinuity is True


def test_overhead_of_a_300ms_24kbit_chunk(key: KeyPair) -> None:
    frames = tuple(bytes([i]) * 60 for i in range(15))  # 15 x 20 ms Opus frames at 24 kbit/s
    payload = encode(_chunk(frames=frames), TOPIC, key)
    audio = sum(len(f) for f in frames)
    assert audio == 900
    length_prefixes = 2 * len(frames)
    header_and_signature = len(payload) - audio - length_prefixes
    assert header_and_signature == HEADER_SIZE + SIGNATURE_SIZE == 87
    assert header_and_signature < 0.10 * audio
    assert len(payload) - audio == 117  # with the per-frame length prefixes: 13 % of the audio


# --- signature failures -------------------------------------------------------------------


def test_wrong_topic(key: KeyPair) -> None:
    payload = encode(_chunk(), TOPIC, key)
    assert _reason(payload, OTHER_TOPIC, key) == "bad_signature"
    assert _reason(payload, topics.stream("live-1", topics.StreamTopic.META), key) == "bad_signature"


def test_wrong_key(key: KeyPair) -> None:
    payload = encode(_chunk(), TOPIC, KeyPair.generate())
    assert _reason(payload, TOPIC, key) == "bad_signature"


@pytest.mark.parametrize("offset", [3, 4, 5, 6, 9, 10, 17, 18, 21])
def test_tampered_header(key: KeyPair, offset: int) -> None:
    payload = bytearray(encode(_chunk(), TOPIC, key))
    payload[offset] ^= 0x01
    if offset == 4:  # codec 1 -> 0 would be malformed, use 2 (PCM) instead
        payload[offset] = 2
    assert _reason(bytes(payload), TOPIC, key) == "bad_signature"


@pytest.mark.parametrize("offset", [25, 100, HEADER_SIZE + 15 * 62 - 1])
def test_tampered_frame(key: KeyPair, offset: int) -> None:
    payload = bytearray(encode(_chunk(), TOPIC, key))
    payload[offset] ^= 0x80
    assert decode(bytes(payload))  # still well formed
    assert _reason(bytes(payload), TOPIC, key) == "bad_signature"


def test_tampered_signature(key: KeyPair) -> None:
    payload = bytearray(encode(_chunk(), TOPIC, key))
    payload[-1] ^= 0x01
    assert _reason(bytes(payload), TOPIC, key) == "bad_signature"
    payload = bytearray(encode(_chunk(), TOPIC, key))
    payload[-SIGNATURE_SIZE] ^= 0x01
    assert _reason(bytes(payload), TOPIC, key) == "bad_signature"


def test_replayed_chunk_keeps_its_sequence(key: KeyPair) -> None:
    """The sequence is the replay counter: it cannot be bumped without breaking the signature."""
    payload = bytearray(encode(_chunk(seq=10), TOPIC, key))
    payload[6:10] = struct.pack(">I", 11)
    assert _reason(bytes(payload), TOPIC, key) == "bad_signature"


# --- malformed ----------------------------------------------------------------------------


def test_truncated(key: KeyPair) -> None:
    payload = encode(_chunk(), TOPIC, key)
    for cut in (0, 1, 22, 23, 88, len(payload) - 1, len(payload) - SIGNATURE_SIZE):
        assert _reason(payload[:cut]) == "malformed", cut


def test_smallest_possible_chunk() -> None:
    minimal = _HEADER.size + 2 + SIGNATURE_SIZE
    payload = _chunk(frames=(b"",)).unsigned_bytes() + b"\x00" * SIGNATURE_SIZE
    assert len(payload) == minimal
    assert decode(payload).frames == (b"",)


def test_too_long(key: KeyPair) -> None:
    assert _reason(b"LA" + b"\x00" * MAX_CHUNK_BYTES) == "malformed"
    frames = tuple(b"x" * 3000 for _ in range(22))  # 66 000 bytes of frames
    with pytest.raises(ChunkError):
        _chunk(frames=frames).unsigned_bytes()


def test_trailing_bytes(key: KeyPair) -> None:
    payload = encode(_chunk(), TOPIC, key)
    assert _reason(payload + b"\x00") == "malformed"


@pytest.mark.parametrize("magic", [b"AL", b"la", b"\x00\x00", b"LB"])
def test_bad_magic(key: KeyPair, magic: bytes) -> None:
    payload = magic + encode(_chunk(), TOPIC, key)[2:]
    assert _reason(payload) == "malformed"


@pytest.mark.parametrize("codec", [0, 3, 255])
def test_unknown_codec(key: KeyPair, codec: int) -> None:
    body = bytearray(_chunk().unsigned_bytes())
    body[4] = codec
    assert _reason(_resign(bytes(body), key)) == "malformed"


@pytest.mark.parametrize("version", [0, 2, 255])
def test_wrong_version(key: KeyPair, version: int) -> None:
    body = bytearray(_chunk().unsigned_bytes())
    body[2] = version
    assert _reason(_resign(bytes(body), key)) == "unsupported_version"
    assert _reason(_resign(bytes(body), key), TOPIC, key) == "unsupported_version"


def test_zero_frames(key: KeyPair) -> None:
    header = _HEADER.pack(MAGIC, CHUNK_VERSION, 0, 1, 0, 1, 0, 300_000, 0)
    for padding in (b"", b"\x00\x00", b"\x00" * 10):
        assert _reason(_resign(header + padding, key)) == "malformed"


def test_encoder_refuses_zero_or_too_many_frames(key: KeyPair) -> None:
    with pytest.raises(ChunkError) as info:
        encode(_chunk(frames=()), TOPIC, key)
    assert info.value.reason == "malformed"
    with pytest.raises(ChunkError):
        encode(_chunk(frames=(b"x",) * (MAX_FRAMES + 1)), TOPIC, key)
    with pytest.raises(ChunkError):
        encode(_chunk(frames=(b"x" * (MAX_FRAME_BYTES + 1),)), TOPIC, key)


def test_frame_count_too_high(key: KeyPair) -> None:
    body = bytearray(_chunk().unsigned_bytes())
    body[22] = 16  # one frame more than the lengths describe
    assert _reason(_resign(bytes(body), key)) == "malformed"


def test_frame_count_too_low(key: KeyPair) -> None:
    body = bytearray(_chunk().unsigned_bytes())
    body[22] = 14  # one frame's bytes left over
    assert _reason(_resign(bytes(body), key)) == "malformed"


@pytest.mark.parametrize("delta", [-1, 1, 1000])
def test_frame_length_does_not_add_up(key: KeyPair, delta: int) -> None:
    body = bytearray(_chunk().unsigned_bytes())
    body[23:25] = struct.pack(">H", 60 + delta)
    assert _reason(_resign(bytes(body), key)) == "malformed"


def test_frame_length_running_into_signature(key: KeyPair) -> None:
    body = bytearray(_chunk(frames=(b"abc",)).unsigned_bytes())
    body[23:25] = struct.pack(">H", 3 + SIGNATURE_SIZE)  # would swallow the signature
    assert _reason(_resign(bytes(body), key)) == "malformed"


def test_chunk_error_is_value_error_with_reason() -> None:
    exc = ChunkError("malformed", "x")
    assert isinstance(exc, ValueError)
    assert exc.reason == "malformed"
    assert str(exc) == "malformed: x"


def test_encoder_refuses_what_the_decoder_refuses(key: KeyPair) -> None:
    chunk = _chunk(frames=tuple(b"x" * MAX_FRAME_BYTES for _ in range(20)))  # 80 kB, each frame legal
    with pytest.raises(ChunkError):
        encode(chunk, TOPIC, key)


# --- fuzzing ------------------------------------------------------------------------------


def _only_chunk_errors(payload: bytes, key: KeyPair) -> None:
    for check in (lambda: decode(payload), lambda: verify(payload, TOPIC, key.private.public_key())):
        try:
            check()
        except ChunkError as exc:
            assert exc.reason in {"malformed", "unsupported_version", "bad_signature"}


def test_fuzz_random_bytes_only_raise_chunk_error(key: KeyPair) -> None:
    rng = random.Random(0xC0FFEE)
    for _ in range(1500):
        size = rng.choice([rng.randint(0, 120), rng.randint(0, 2000), rng.randint(60_000, 70_000)])
        payload = rng.randbytes(size)
        if rng.random() < 0.5 and size >= 3:  # get past the magic and version checks more often
            payload = MAGIC + bytes([CHUNK_VERSION]) + payload[3:]
        _only_chunk_errors(payload, key)


def test_fuzz_mutated_valid_chunks_only_raise_chunk_error(key: KeyPair) -> None:
    rng = random.Random(7)
    base = encode(_chunk(frames=(b"a" * 5, b"b" * 7, b"c")), TOPIC, key)
    for _ in range(1500):
        payload = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            if op < 0.6 and payload:
                payload[rng.randrange(len(payload))] = rng.randrange(256)
            elif op < 0.8:
                del payload[rng.randrange(len(payload) + 1) :]
            else:
                payload[rng.randrange(len(payload) + 1) : 0] = rng.randbytes(rng.randint(1, 8))
        _only_chunk_errors(bytes(payload), key)
        try:
            verify(bytes(payload), TOPIC, key.private.public_key())
        except ChunkError:
            continue
        assert bytes(payload) == base  # only a no-op mutation may still verify
