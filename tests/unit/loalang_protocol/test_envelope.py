"""Signed JSON envelopes: sealing, verification, key certificates, replay protection."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from loalang_protocol import topics
from loalang_protocol.canonical import canonical_json
from loalang_protocol.envelope import (
    ALLOWED_CLOCK_SKEW_MS,
    MAX_MESSAGE_BYTES,
    ControllerVerifier,
    Counter,
    Opened,
    Rejected,
    ReplayGuard,
    open_device_message,
    parse,
    seal,
    verify,
)
from loalang_protocol.keys import (
    PURPOSE_CONTROL,
    PURPOSE_STREAM,
    KeyPair,
    b64decode,
    b64encode,
    issue_certificate,
)

pytestmark = pytest.mark.unit

NOW_S = 1_700_000_000.0
NOW = int(NOW_S * 1000)
TOPIC = topics.device("dev-1", topics.DeviceTopic.DESIRED)
OTHER_TOPIC = topics.device("dev-2", topics.DeviceTopic.DESIRED)
BODY = {"scope": "device", "target": "dev-1", "version": 3, "settings": {"volume": 70}}


@pytest.fixture(scope="module")
def root() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="module")
def signer() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="module")
def cert(root: KeyPair, signer: KeyPair) -> dict[str, Any]:
    return issue_certificate(root, signer.public_bytes, PURPOSE_CONTROL, 86_400, now=NOW_S)


@pytest.fixture
def verifier(root: KeyPair) -> ControllerVerifier:
    return ControllerVerifier(root.private.public_key())


@pytest.fixture
def sealed(signer: KeyPair, cert: dict[str, Any]) -> bytes:
    return seal(TOPIC, BODY, signer, Counter(1, 5), 60, cert, issued_ms=NOW)


def _reject(verifier: ControllerVerifier, payload: bytes, topic: str = TOPIC, now: int = NOW) -> str:
    with pytest.raises(Rejected) as info:
        verifier.open(topic, payload, now=now)
    return info.value.reason


def _edit(payload: bytes, **changes: Any) -> bytes:
    doc = json.loads(payload)
    doc.update(changes)
    return json.dumps(doc).encode()


# --- round trip ---------------------------------------------------------------------------


def test_seal_open_round_trip(verifier: ControllerVerifier, signer: KeyPair, sealed: bytes) -> None:
    opened = verifier.open(TOPIC, sealed, now=NOW + 1000)
    assert opened.body == BODY
    assert opened.kid == signer.kid
    assert opened.issued_ms == NOW
    assert opened.expires_ms == NOW + 60_000
    assert opened.counter == Counter(1, 5)
    assert b64decode(opened.signature)  # the signature text of the payload
    assert opened.signature == json.loads(sealed)["sig"]


def test_wire_form(signer: KeyPair, sealed: bytes, cert: dict[str, Any]) -> None:
    doc = json.loads(sealed)
    assert set(doc) == {"v", "kid", "iat", "exp", "epoch", "seq", "cert", "body", "sig"}
    assert doc["v"] == 1
    assert doc["cert"] == cert
    assert sealed == canonical_json(doc)  # sealed payload is itself canonical
    assert len(b64decode(doc["sig"])) == 64


def test_whitespace_and_key_order_do_not_matter(verifier: ControllerVerifier, sealed: bytes) -> None:
    doc = json.loads(sealed)
    reordered = json.dumps(dict(reversed(list(doc.items()))), indent=2, ensure_ascii=False).encode()
    assert verifier.open(TOPIC, reordered, now=NOW).body == BODY


def test_non_ascii_body_round_trip(
    verifier: ControllerVerifier, signer: KeyPair, cert: dict[str, Any]
) -> None:
    body = {"text": "Thôn Đông Hà \u2013 loa phát thanh", "n": [1, 2.5, None, True]}
    payload = seal(TOPIC, body, signer, Counter(0, 0), 10, cert, issued_ms=NOW)
    assert verifier.open(TOPIC, payload, now=NOW).body == body
    # the same content re-encoded as UTF-8 instead of \\u escapes still verifies
    raw = json.dumps(json.loads(payload), ensure_ascii=False).encode("utf-8")
    assert verifier.open(TOPIC, raw, now=NOW).body == body


def test_default_issue_time_is_now(root: KeyPair, signer: KeyPair) -> None:
    verifier = ControllerVerifier(root.private.public_key())
    fresh_cert = issue_certificate(root, signer.public_bytes, PURPOSE_CONTROL, 3600)
    payload = seal(TOPIC, BODY, signer, Counter(0, 1), 60, fresh_cert)
    doc = json.loads(payload)
    assert doc["exp"] - doc["iat"] == 60_000
    assert abs(doc["iat"] - fresh_cert["nbf"] - 300_000) < 60_000  # both taken from the wall clock
    assert verifier.open(TOPIC, payload).body == BODY  # default now: the wall clock


# --- parse-level rejections ---------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b"{}",
        json.dumps({"v": 1, "body": BODY}).encode(),
        json.dumps({"v": 1, "kid": "x", "body": BODY}).encode(),
        json.dumps({"v": 1, "sig": "x", "body": BODY}).encode(),
        json.dumps(BODY).encode(),
    ],
)
def test_unsigned_json(verifier: ControllerVerifier, payload: bytes) -> None:
    assert _reject(verifier, payload) == "unsigned"


def test_random_bytes_are_malformed(verifier: ControllerVerifier) -> None:
    rng = random.Random(1234)
    for _ in range(200):
        payload = rng.randbytes(rng.randint(0, 300))
        assert _reject(verifier, payload) in {"malformed", "unsigned"}


@pytest.mark.parametrize("cut", [0, 1, 10, 50, -1, -2, -10])
def test_truncated_json(verifier: ControllerVerifier, sealed: bytes, cut: int) -> None:
    assert _reject(verifier, sealed[:cut]) == "malformed"


@pytest.mark.parametrize("payload", [b"[]", b"[1,2]", b'"text"', b"5", b"null", b"true", b"1.5"])
def test_non_object_json(verifier: ControllerVerifier, payload: bytes) -> None:
    assert _reject(verifier, payload) == "malformed"


def test_invalid_utf8_is_malformed(verifier: ControllerVerifier) -> None:
    assert _reject(verifier, b'{"a":"\xff\xfe\xfd"}') == "malformed"


def test_deep_nesting_is_malformed(verifier: ControllerVerifier) -> None:
    assert _reject(verifier, b"[" * 100_000 + b"]" * 100_000) == "malformed"


def test_oversized(verifier: ControllerVerifier, signer: KeyPair, cert: dict[str, Any]) -> None:
    big = seal(TOPIC, {"pad": "x" * MAX_MESSAGE_BYTES}, signer, Counter(1, 1), 60, cert, issued_ms=NOW)
    assert len(big) > MAX_MESSAGE_BYTES
    assert _reject(verifier, big) == "malformed"
    # anything over the limit is refused before being decoded
    assert _reject(verifier, b" " * (MAX_MESSAGE_BYTES + 1)) == "malformed"


def test_just_under_the_limit_is_accepted(
    verifier: ControllerVerifier, signer: KeyPair, cert: dict[str, Any]
) -> None:
    small = seal(TOPIC, {"pad": ""}, signer, Counter(1, 1), 60, cert, issued_ms=NOW)
    pad = MAX_MESSAGE_BYTES - len(small)
    payload = seal(TOPIC, {"pad": "x" * pad}, signer, Counter(1, 1), 60, cert, issued_ms=NOW)
    assert len(payload) == MAX_MESSAGE_BYTES
    assert verifier.open(TOPIC, payload, now=NOW).body["pad"] == "x" * pad


@pytest.mark.parametrize("version", [2, 0, "1", None, 1.5])
def test_wrong_version(verifier: ControllerVerifier, sealed: bytes, version: Any) -> None:
    assert _reject(verifier, _edit(sealed, v=version)) == "unsupported_version"


def test_missing_or_extra_fields(verifier: ControllerVerifier, sealed: bytes) -> None:
    doc = json.loads(sealed)
    for name in ("v", "iat", "exp", "epoch", "seq", "cert", "body"):
        partial = {k: v for k, v in doc.items() if k != name}
        assert _reject(verifier, json.dumps(partial).encode()) == "malformed", name
    assert _reject(verifier, _edit(sealed, extra=1)) == "malformed"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("iat", "1700000000000"),
        ("iat", 1.7e12),
        ("iat", True),
        ("exp", None),
        ("exp", -1),
        ("epoch", False),
        ("epoch", -1),
        ("seq", "5"),
        ("seq", [5]),
        ("seq", 5.0),
        ("kid", 5),
        ("kid", None),
        ("sig", 5),
        ("sig", None),
        ("body", []),
        ("body", "text"),
        ("body", None),
    ],
)
def test_wrong_types(verifier: ControllerVerifier, sealed: bytes, field: str, value: Any) -> None:
    with pytest.raises(Rejected) as info:
        parse(_edit(sealed, **{field: value}))
    assert info.value.reason == "malformed"
    assert _reject(verifier, _edit(sealed, **{field: value})) == "malformed"


def test_huge_integer_is_rejected_not_crashing(verifier: ControllerVerifier, sealed: bytes) -> None:
    payload = sealed.replace(b'"seq":5', b'"seq":' + b"9" * 5000)
    assert len(payload) < MAX_MESSAGE_BYTES
    assert _reject(verifier, payload) == "malformed"


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_finite_numbers_are_rejected_not_crashing(
    verifier: ControllerVerifier, sealed: bytes, constant: bytes
) -> None:
    payload = sealed.replace(b'"volume":70', b'"volume":' + constant)
    assert payload != sealed
    assert _reject(verifier, payload) in {"malformed", "bad_signature"}


# --- signature, key and certificate rejections -------------------------------------------


def test_uncertified_key_self_made_cert(verifier: ControllerVerifier, root: KeyPair) -> None:
    rogue_root, rogue = KeyPair.generate(), KeyPair.generate()
    fake_cert = issue_certificate(rogue_root, rogue.public_bytes, PURPOSE_CONTROL, 3600, now=NOW_S)
    fake_cert["root"] = root.kid
    payload = seal(TOPIC, BODY, rogue, Counter(9, 9), 60, fake_cert, issued_ms=NOW)
    assert _reject(verifier, payload) == "uncertified_key"
    # and the rogue key was not cached by the failed attempt
    bare = seal(TOPIC, BODY, rogue, Counter(9, 10), 60, None, issued_ms=NOW)
    assert _reject(verifier, bare) == "unknown_key"


def test_unknown_key_without_certificate(verifier: ControllerVerifier, signer: KeyPair) -> None:
    payload = seal(TOPIC, BODY, signer, Counter(1, 1), 60, None, issued_ms=NOW)
    assert _reject(verifier, payload) == "unknown_key"


def test_stream_certificate_cannot_sign_control(verifier: ControllerVerifier, root: KeyPair) -> None:
    stream_key = KeyPair.generate()
    stream_cert = issue_certificate(root, stream_key.public_bytes, PURPOSE_STREAM, 3600, now=NOW_S)
    payload = seal(TOPIC, BODY, stream_key, Counter(1, 1), 60, stream_cert, issued_ms=NOW)
    assert _reject(verifier, payload) == "uncertified_key"
    stream_verifier = ControllerVerifier(root.private.public_key(), purpose=PURPOSE_STREAM)
    assert stream_verifier.open(TOPIC, payload, now=NOW).body == BODY


def test_certificate_of_another_key(verifier: ControllerVerifier, cert: dict[str, Any]) -> None:
    thief = KeyPair.generate()
    payload = seal(TOPIC, BODY, thief, Counter(1, 1), 60, cert, issued_ms=NOW)
    assert _reject(verifier, payload) == "uncertified_key"


def test_certificate_with_kid_of_signer_but_other_pub(
    verifier: ControllerVerifier, signer: KeyPair, cert: dict[str, Any]
) -> None:
    """A thief cannot present a valid certificate while claiming its own signature is by the kid."""
    thief = KeyPair.generate()
    payload = seal(TOPIC, BODY, thief, Counter(1, 1), 60, cert, issued_ms=NOW)
    forged = _edit(payload, kid=signer.kid)
    assert _reject(verifier, forged) == "bad_signature"


def test_expired_certificate(verifier: ControllerVerifier, signer: KeyPair, cert: dict[str, Any]) -> None:
    later = cert["exp"] + 1
    payload = seal(TOPIC, BODY, signer, Counter(1, 1), 60, cert, issued_ms=later)
    assert _reject(verifier, payload, now=later) == "uncertified_key"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("body", {**BODY, "version": 4}),
        ("body", {**BODY, "settings": {"volume": 100}}),
        ("exp", NOW + 10**9),
        ("iat", NOW + 1),
        ("epoch", 2),
        ("seq", 6),
    ],
)
def test_tampered_content(verifier: ControllerVerifier, sealed: bytes, field: str, value: Any) -> None:
    assert _reject(verifier, _edit(sealed, **{field: value})) == "bad_signature"


def test_tampered_signature(verifier: ControllerVerifier, sealed: bytes) -> None:
    doc = json.loads(sealed)
    raw = bytearray(b64decode(doc["sig"]))
    raw[10] ^= 0x40
    assert _reject(verifier, _edit(sealed, sig=b64encode(bytes(raw)))) == "bad_signature"
    assert _reject(verifier, _edit(sealed, sig="")) == "bad_signature"
    assert _reject(verifier, _edit(sealed, sig="é")) == "bad_signature"
    assert _reject(verifier, _edit(sealed, sig="A" * 5000)) == "bad_signature"


def test_topic_binding(verifier: ControllerVerifier, sealed: bytes) -> None:
    assert verifier.open(TOPIC, sealed, now=NOW).body == BODY
    assert _reject(verifier, sealed, topic=OTHER_TOPIC) == "bad_signature"
    assert _reject(verifier, sealed, topic=topics.area("dev-1", topics.AreaTopic.DESIRED)) == "bad_signature"
    assert _reject(verifier, sealed, topic=TOPIC + "x") == "bad_signature"


def test_expired_message(verifier: ControllerVerifier, sealed: bytes) -> None:
    exp = NOW + 60_000
    verifier.open(TOPIC, sealed, now=exp - 1)
    assert _reject(verifier, sealed, now=exp) == "expired"
    assert _reject(verifier, sealed, now=exp + 3_600_000) == "expired"


def test_issued_in_the_future(verifier: ControllerVerifier, signer: KeyPair, cert: dict[str, Any]) -> None:
    near = seal(TOPIC, BODY, signer, Counter(1, 1), 600, cert, issued_ms=NOW + ALLOWED_CLOCK_SKEW_MS)
    assert verifier.open(TOPIC, near, now=NOW).counter == Counter(1, 1)
    far = seal(TOPIC, BODY, signer, Counter(1, 2), 600, cert, issued_ms=NOW + ALLOWED_CLOCK_SKEW_MS + 1)
    assert _reject(verifier, far) == "not_yet_valid"
    very_far = seal(TOPIC, BODY, signer, Counter(1, 3), 86_400, cert, issued_ms=NOW + 3_600_000)
    assert _reject(verifier, very_far) == "not_yet_valid"


def test_revoked_kid(verifier: ControllerVerifier, signer: KeyPair, sealed: bytes) -> None:
    verifier.open(TOPIC, sealed, now=NOW)  # known and cached
    verifier.revoked.add(signer.kid)
    assert _reject(verifier, sealed) == "revoked_key"


def test_revoked_kid_before_first_use(verifier: ControllerVerifier, signer: KeyPair, sealed: bytes) -> None:
    verifier.revoked.add(signer.kid)
    assert _reject(verifier, sealed) == "revoked_key"


def test_cached_kid_works_without_certificate(
    verifier: ControllerVerifier, signer: KeyPair, cert: dict[str, Any], sealed: bytes
) -> None:
    bare = seal(TOPIC, BODY, signer, Counter(1, 6), 60, None, issued_ms=NOW)
    assert _reject(verifier, bare) == "unknown_key"
    verifier.open(TOPIC, sealed, now=NOW)
    assert verifier.open(TOPIC, bare, now=NOW).counter == Counter(1, 6)
    # the cache lasts only as long as the certificate
    late = seal(TOPIC, BODY, signer, Counter(1, 7), 60, None, issued_ms=cert["exp"])
    assert _reject(verifier, late, now=cert["exp"]) == "unknown_key"


def test_cache_does_not_skip_signature_check(
    verifier: ControllerVerifier, signer: KeyPair, sealed: bytes
) -> None:
    verifier.open(TOPIC, sealed, now=NOW)
    thief = KeyPair.generate()
    forged = _edit(seal(TOPIC, BODY, thief, Counter(1, 9), 60, None, issued_ms=NOW), kid=signer.kid)
    assert _reject(verifier, forged) == "bad_signature"


def test_rotated_key_certified_by_same_root(
    verifier: ControllerVerifier, root: KeyPair, sealed: bytes
) -> None:
    verifier.open(TOPIC, sealed, now=NOW)
    new_key = KeyPair.generate()
    new_cert = issue_certificate(root, new_key.public_bytes, PURPOSE_CONTROL, 86_400, now=NOW_S)
    payload = seal(TOPIC, {**BODY, "version": 4}, new_key, Counter(2, 0), 60, new_cert, issued_ms=NOW)
    opened = verifier.open(TOPIC, payload, now=NOW)
    assert opened.kid == new_key.kid
    assert opened.body["version"] == 4
    # the old key keeps working until revoked
    verifier.open(TOPIC, sealed, now=NOW)


# --- module-level verify and device messages ----------------------------------------------


def test_verify_with_explicit_key(signer: KeyPair, sealed: bytes) -> None:
    doc = parse(sealed)
    opened = verify(TOPIC, doc, signer.private.public_key(), now=NOW)
    assert opened.body == BODY
    with pytest.raises(Rejected) as info:
        verify(TOPIC, doc, KeyPair.generate().private.public_key(), now=NOW)
    assert info.value.reason == "bad_signature"


def test_open_device_message_with_lookup() -> None:
    device_key = KeyPair.generate()
    topic = topics.device("dev-1", topics.DeviceTopic.EVENT)
    body = {"install_id": "i-1", "seq": 1, "type": "played", "ts": 1}
    payload = seal(topic, body, device_key, Counter(0, 1), 3600)
    keys = {device_key.kid: device_key.private.public_key()}
    looked_up: list[str] = []

    def lookup(kid: str) -> Any:
        looked_up.append(kid)
        return keys.get(kid)

    opened = open_device_message(topic, payload, lookup)
    assert opened.body == body
    assert looked_up == [device_key.kid]

    with pytest.raises(Rejected) as info:
        open_device_message(topic, payload, lambda kid: None)
    assert info.value.reason == "unknown_key"

    other_device = KeyPair.generate()
    with pytest.raises(Rejected) as info:
        open_device_message(topic, payload, lambda kid: other_device.private.public_key())
    assert info.value.reason == "bad_signature"

    with pytest.raises(Rejected) as info:
        open_device_message(topics.device("dev-2", topics.DeviceTopic.EVENT), payload, lookup)
    assert info.value.reason == "bad_signature"

    with pytest.raises(Rejected) as info:
        open_device_message(topic, b"not json", lookup)
    assert info.value.reason == "malformed"

    expired = seal(topic, body, device_key, Counter(0, 2), 1, issued_ms=NOW)
    with pytest.raises(Rejected) as info:
        open_device_message(topic, expired, lookup)
    assert info.value.reason == "expired"


def test_rejected_carries_reason_and_detail() -> None:
    exc = Rejected("expired", "2.0 s ago")
    assert isinstance(exc, ValueError)
    assert exc.reason == "expired"
    assert exc.detail == "2.0 s ago"
    assert str(exc) == "expired: 2.0 s ago"
    assert str(Rejected("unsigned")) == "unsigned"


# --- replay guard -------------------------------------------------------------------------


def _opened(epoch: int, seq: int, sig: str = "sig-a") -> Opened:
    return Opened(body={}, kid="k", issued_ms=0, expires_ms=1, counter=Counter(epoch, seq), signature=sig)


def test_replay_guard_new_then_repeat_for_identical_retained_payload(
    verifier: ControllerVerifier, sealed: bytes
) -> None:
    guard = ReplayGuard()
    first = verifier.open(TOPIC, sealed, now=NOW)
    assert guard.check(TOPIC, first) == ReplayGuard.NEW
    guard.accept(TOPIC, first)
    again = verifier.open(TOPIC, sealed, now=NOW + 5000)
    assert guard.check(TOPIC, again) == ReplayGuard.REPEAT


def test_replay_guard_older_counter(
    verifier: ControllerVerifier, signer: KeyPair, cert: dict[str, Any]
) -> None:
    guard = ReplayGuard()
    newer = verifier.open(TOPIC, seal(TOPIC, BODY, signer, Counter(1, 5), 60, cert, issued_ms=NOW), now=NOW)
    older = verifier.open(TOPIC, seal(TOPIC, BODY, signer, Counter(1, 4), 60, cert, issued_ms=NOW), now=NOW)
    guard.accept(TOPIC, newer)
    with pytest.raises(Rejected) as info:
        guard.check(TOPIC, older, retained=False)
    assert info.value.reason == "replayed"
    with pytest.raises(Rejected):
        guard.check(TOPIC, _opened(0, 999), retained=False)  # older epoch, whatever the sequence


def test_replay_guard_an_older_retained_copy_is_stale_not_an_attack() -> None:
    """A broker restarted from its last save serves the retained state it held then."""
    guard = ReplayGuard()
    guard.accept(TOPIC, _opened(1, 10))
    assert guard.check(TOPIC, _opened(1, 9, "sig-old"), retained=True) == ReplayGuard.STALE
    assert guard.check(TOPIC, _opened(0, 999, "sig-older"), retained=True) == ReplayGuard.STALE
    with pytest.raises(Rejected):
        guard.check(TOPIC, _opened(1, 10, "sig-other"), retained=True)  # the same counter, other content


def test_replay_guard_same_counter_other_signature(
    verifier: ControllerVerifier, signer: KeyPair, cert: dict[str, Any]
) -> None:
    guard = ReplayGuard()
    a = verifier.open(TOPIC, seal(TOPIC, BODY, signer, Counter(1, 5), 60, cert, issued_ms=NOW), now=NOW)
    b = verifier.open(
        TOPIC, seal(TOPIC, {**BODY, "version": 9}, signer, Counter(1, 5), 60, cert, issued_ms=NOW), now=NOW
    )
    assert a.signature != b.signature
    guard.accept(TOPIC, a)
    with pytest.raises(Rejected) as info:
        guard.check(TOPIC, b)
    assert info.value.reason == "replayed"


def test_replay_guard_higher_epoch_lower_seq_is_new() -> None:
    guard = ReplayGuard()
    guard.accept(TOPIC, _opened(1, 1000))
    assert guard.check(TOPIC, _opened(2, 0, "sig-b")) == ReplayGuard.NEW
    assert guard.check(TOPIC, _opened(1, 1001, "sig-c")) == ReplayGuard.NEW


def test_replay_guard_is_per_topic() -> None:
    guard = ReplayGuard()
    guard.accept(TOPIC, _opened(1, 10))
    assert guard.check(OTHER_TOPIC, _opened(1, 1)) == ReplayGuard.NEW
    with pytest.raises(Rejected):
        guard.check(TOPIC, _opened(1, 1), retained=False)


def test_replay_guard_check_alone_does_not_record() -> None:
    guard = ReplayGuard()
    assert guard.check(TOPIC, _opened(1, 10)) == ReplayGuard.NEW
    assert guard.check(TOPIC, _opened(1, 5)) == ReplayGuard.NEW
    assert guard.state == {}


def test_replay_guard_state_survives_json_persistence() -> None:
    guard = ReplayGuard()
    guard.accept(TOPIC, _opened(3, 7, "sig-x"))
    restored = ReplayGuard(json.loads(json.dumps(guard.state)))
    assert restored.check(TOPIC, _opened(3, 7, "sig-x")) == ReplayGuard.REPEAT
    with pytest.raises(Rejected):
        restored.check(TOPIC, _opened(3, 7, "sig-y"))
    with pytest.raises(Rejected):
        restored.check(TOPIC, _opened(3, 6, "sig-z"), retained=False)
    assert restored.check(TOPIC, _opened(3, 8, "sig-z")) == ReplayGuard.NEW


def test_replay_guard_does_not_share_callers_state_dict() -> None:
    initial: dict[str, list[Any]] = {}
    guard = ReplayGuard(initial)
    guard.accept(TOPIC, _opened(1, 1))
    assert initial == {}


def test_replay_guard_refuses_an_epoch_far_ahead_of_the_known_time() -> None:
    """A real epoch is when the controller's counter was made: never ahead of the time."""
    guard = ReplayGuard()
    guard.accept(TOPIC, _opened(NOW - 86_400_000, 7))
    assert guard.check(TOPIC, _opened(NOW + ALLOWED_CLOCK_SKEW_MS, 1, "sig-b"), now_ms=NOW) == ReplayGuard.NEW
    with pytest.raises(Rejected) as info:
        guard.check(TOPIC, _opened(NOW + ALLOWED_CLOCK_SKEW_MS + 1, 1, "sig-c"), now_ms=NOW)
    assert info.value.reason == "epoch_ahead"
    huge = _opened(2**62, 1, "sig-d")
    assert guard.check(TOPIC, huge, now_ms=None) == ReplayGuard.NEW, "no bound while the time is unknown"


def test_replay_guard_forgets_a_counter_held_ahead_of_the_time_once_known() -> None:
    """Taken while the time was unknown, a huge epoch would block the topic for good."""
    guard = ReplayGuard()
    guard.accept(TOPIC, _opened(2**62, 1, "sig-forged"))
    guard.accept(OTHER_TOPIC, _opened(NOW - 1000, 5))
    real = _opened(NOW - 1000, 6, "sig-real")
    with pytest.raises(Rejected):
        guard.check(TOPIC, real, retained=False)
    assert guard.forget_ahead(NOW) == [TOPIC]
    assert guard.check(TOPIC, real, retained=False, now_ms=NOW) == ReplayGuard.NEW
    assert guard.state == {OTHER_TOPIC: [NOW - 1000, 5, "sig-a"]}, "counters within the bound are kept"
    assert guard.forget_ahead(NOW) == []
