"""Signed JSON messages.

Everything that can make a loudspeaker speak travels in an envelope signed with Ed25519.
The signature covers the topic and the canonical JSON of every field but the signature:
key id, issue time, expiry, the (epoch, sequence) counter and the body. Devices sign their
events the same way with their own key.

Wire form (UTF-8 JSON)::

    {"v": 1, "kid": "...", "iat": ms, "exp": ms, "epoch": n, "seq": n,
     "cert": {...} | null, "body": {...}, "sig": "base64"}
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .canonical import canonical_json
from .keys import CertificateError, KeyPair, b64decode, b64encode, check_certificate, verify_raw

ENVELOPE_VERSION = 1
MAX_MESSAGE_BYTES = 256 * 1024
MESSAGE_DOMAIN = b"loa-msg-v1\x00"
ALLOWED_CLOCK_SKEW_MS = 300_000
_FIELDS = {"v", "kid", "iat", "exp", "epoch", "seq", "cert", "body", "sig"}


class Rejected(ValueError):
    """A message failed verification; reason is a short stable code for events and counters."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Counter:
    """Replay counter: a new epoch (failover, restore) outranks any sequence of an older one."""

    epoch: int
    seq: int

    def as_tuple(self) -> tuple[int, int]:
        """Order key."""
        return (self.epoch, self.seq)


@dataclass(frozen=True)
class Opened:
    """A verified message."""

    body: dict[str, Any]
    kid: str
    issued_ms: int
    expires_ms: int
    counter: Counter
    signature: str


def now_ms() -> int:
    """Wall-clock time in milliseconds."""
    return int(time.time() * 1000)


def _signed_bytes(topic: str, unsigned: dict[str, Any]) -> bytes:
    return MESSAGE_DOMAIN + topic.encode("utf-8") + b"\x00" + canonical_json(unsigned)


def seal(
    topic: str,
    body: dict[str, Any],
    key: KeyPair,
    counter: Counter,
    ttl_seconds: float,
    certificate: dict[str, Any] | None = None,
    issued_ms: int | None = None,
) -> bytes:
    """Sign body for topic and return the payload to publish."""
    iat = now_ms() if issued_ms is None else issued_ms
    unsigned = {
        "v": ENVELOPE_VERSION,
        "kid": key.kid,
        "iat": iat,
        "exp": iat + int(ttl_seconds * 1000),
        "epoch": counter.epoch,
        "seq": counter.seq,
        "cert": certificate,
        "body": body,
    }
    signature = b64encode(key.sign(_signed_bytes(topic, unsigned)))
    return canonical_json({**unsigned, "sig": signature})


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return value


def parse(payload: bytes) -> dict[str, Any]:
    """Decode an envelope's JSON and check its shape; raises Rejected('malformed'|'unsigned')."""
    if len(payload) > MAX_MESSAGE_BYTES:
        raise Rejected("malformed", f"message of {len(payload)} bytes is over the limit")
    try:
        doc = json.loads(payload, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:  # ValueError covers JSON, UTF-8 and huge integers
        raise Rejected("malformed", f"not JSON: {exc}"[:200]) from None
    if not isinstance(doc, dict):
        raise Rejected("malformed", "not a JSON object")
    if "sig" not in doc or "kid" not in doc:
        raise Rejected("unsigned", "message carries no signature")
    if set(doc) != _FIELDS:
        raise Rejected("malformed", "envelope fields are wrong")
    if type(doc["v"]) is not int or doc["v"] != ENVELOPE_VERSION:
        raise Rejected("unsupported_version", f"envelope version {doc['v']!r:.20}")
    for name in ("iat", "exp", "epoch", "seq"):
        if not isinstance(doc[name], int) or isinstance(doc[name], bool) or doc[name] < 0:
            raise Rejected("malformed", f"{name} is not a non-negative integer")
    if not isinstance(doc["kid"], str) or not isinstance(doc["sig"], str):
        raise Rejected("malformed", "kid and sig must be strings")
    if not isinstance(doc["body"], dict):
        raise Rejected("malformed", "body is not an object")
    return doc


def verify(
    topic: str,
    doc: dict[str, Any],
    public_key: Ed25519PublicKey,
    now: int | None = None,
) -> Opened:
    """Check the signature and the time window of a parsed envelope."""
    unsigned = {k: v for k, v in doc.items() if k != "sig"}
    try:
        signature = b64decode(doc["sig"])
    except ValueError:
        raise Rejected("bad_signature", "signature is not base64") from None
    if not verify_raw(public_key, signature, _signed_bytes(topic, unsigned)):
        raise Rejected("bad_signature", "signature does not match topic and content")
    current = now_ms() if now is None else now
    if doc["iat"] > current + ALLOWED_CLOCK_SKEW_MS:
        raise Rejected("not_yet_valid", "issued in the future")
    if doc["exp"] <= current:
        raise Rejected("expired", f"expired {(current - doc['exp']) / 1000:.1f} s ago")
    return Opened(
        body=doc["body"],
        kid=doc["kid"],
        issued_ms=doc["iat"],
        expires_ms=doc["exp"],
        counter=Counter(doc["epoch"], doc["seq"]),
        signature=doc["sig"],
    )


class ControllerVerifier:
    """Verifies controller messages: key certified by the root, for the given purpose, not revoked."""

    def __init__(self, root_public: Ed25519PublicKey, purpose: str = "control") -> None:
        self.root_public = root_public
        self.purpose = purpose
        self.revoked: set[str] = set()
        self._known: dict[str, tuple[Ed25519PublicKey, int]] = {}

    def use_revocations(self, revoked: Iterable[str]) -> None:
        """Refuse every key in revoked from now on, and forget what was learned about them."""
        self.revoked = set(revoked)
        for kid in self.revoked:
            self._known.pop(kid, None)

    def key_for(self, doc: dict[str, Any], now: int) -> Ed25519PublicKey:
        """Find the signing key named by the envelope, checking its certificate when new."""
        kid = doc["kid"]
        if kid in self.revoked:
            raise Rejected("revoked_key", f"key {kid:.20} is revoked")
        known = self._known.get(kid)
        if known is not None and now < known[1]:
            return known[0]
        cert = doc.get("cert")
        if cert is None:
            raise Rejected("unknown_key", f"key {kid:.20} carries no certificate")
        try:
            public = check_certificate(cert, self.root_public, self.purpose, now)
        except CertificateError as exc:
            raise Rejected("uncertified_key", str(exc)) from None
        if cert["kid"] != kid:
            raise Rejected("uncertified_key", "certificate is for another key")
        self._known[kid] = (public, cert["exp"])
        return public

    def open(self, topic: str, payload: bytes, now: int | None = None, clock_trusted: bool = True) -> Opened:
        """Parse and verify a controller message; raises Rejected with the reason.

        A device whose clock cannot be trusted (after a boot without time) checks validity at
        the message's own issue time instead: the signature, the certificate and the replay
        counter still hold, and the clock exchange's nonce makes its replies fresh. Such a message
        may be old (a broker can replay one on a topic the device holds no counter for), so the
        agent lets nothing from a message issued before the newest it ever verified make a sound
        until the time is known (docs/playout.md).
        """
        doc = parse(payload)
        current = (now_ms() if now is None else now) if clock_trusted else doc["iat"]
        return verify(topic, doc, self.key_for(doc, current), current)


def open_device_message(
    topic: str, payload: bytes, key_lookup: Callable[[str], Ed25519PublicKey | None]
) -> Opened:
    """Verify a message signed by a device, whose key the lookup finds by key id."""
    doc = parse(payload)
    public = key_lookup(doc["kid"])
    if public is None:
        raise Rejected("unknown_key", "not the device's enrolled key")
    return verify(topic, doc, public)


class ReplayGuard:
    """Remembers the newest counter accepted per topic.

    A retained message delivered again (same counter, same signature) is a repeat, not an
    attack; a retained message with an older counter is stale: a broker restored from an older
    save serves what it had then, and the newer state is already held. Neither is applied. Live,
    an older counter, the same counter with other content, or the same message a second time is a
    replay.

    The epoch is the time in milliseconds when the controller fleet's counter was created, so a
    real one is never ahead of the real time. While the device knows the time, a counter whose
    epoch is more than ALLOWED_CLOCK_SKEW_MS ahead of it is refused (`epoch_ahead`): one message
    with a huge epoch, signed by any key that was ever valid, would otherwise block the topic for
    good. A held counter that far ahead (accepted while the time was unknown) is forgotten once
    the time is known, so the controller's next real message is accepted.
    """

    NEW = "new"
    REPEAT = "repeat"
    STALE = "stale"

    def __init__(self, state: dict[str, list[Any]] | None = None) -> None:
        self.state: dict[str, list[Any]] = dict(state or {})

    def check(self, topic: str, opened: Opened, retained: bool = True, now_ms: int | None = None) -> str:
        """Return NEW, or REPEAT or STALE (only for a retained delivery), or raise
        Rejected('replayed'), or Rejected('epoch_ahead') when now_ms (the device's time, None
        while unknown) shows the epoch too far ahead."""
        if now_ms is not None and epoch_ahead(opened.counter, now_ms):
            raise Rejected("epoch_ahead", f"epoch {opened.counter.epoch} is ahead of the time {now_ms}")
        last = self.state.get(topic)
        if last is not None:
            last_counter = (int(last[0]), int(last[1]))
            same = opened.counter.as_tuple() == last_counter and opened.signature == last[2]
            if same and retained:
                return self.REPEAT
            if retained and opened.counter.as_tuple() < last_counter:
                return self.STALE
            if opened.counter.as_tuple() <= last_counter:
                raise Rejected("replayed", f"counter {opened.counter.as_tuple()} is not newer")
        return self.NEW

    def accept(self, topic: str, opened: Opened) -> None:
        """Record opened as the newest message on topic."""
        self.state[topic] = [opened.counter.epoch, opened.counter.seq, opened.signature]

    def forget_ahead(self, now_ms: int) -> list[str]:
        """Forget the held counters whose epoch is too far ahead of now_ms (the device's known
        time); returns their topics."""
        ahead = [topic for topic, last in self.state.items()
                 if epoch_ahead(Counter(int(last[0]), int(last[1])), now_ms)]
        for topic in ahead:
            del self.state[topic]
        return ahead


def epoch_ahead(counter: Counter, now_ms: int) -> bool:
    """Whether a counter's epoch lies further ahead of now_ms than a controller's clock may be."""
    return counter.epoch > now_ms + ALLOWED_CLOCK_SKEW_MS
