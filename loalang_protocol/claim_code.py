"""Claim codes: a one-time secret and a fingerprint of the controller's root key, typed on a phone.

A code is five groups of four Crockford base32 characters, for example
``K7QM-2XWD-9RTA-3F8H-PQ2Z``. The first three groups are the secret (60 random bits) that the
controller stores only as a hash. The last two are the fingerprint: 40 bits of scrypt over the
32 raw bytes of the root public key, salted with a domain string and the secret. The board
computes the fingerprint of the root key it receives at enrolment and refuses a mismatch, so
someone between the board and the controller cannot hand it a root key of their own.

The fingerprint is bound to the secret, so it cannot be ground once for all codes of a
deployment, and scrypt makes grinding one code's dear: a man in the middle who has read the code
(and holds the board's request back while the technician tries again, for the code's lifetime)
must find an Ed25519 key whose fingerprint matches, about 10^12 scrypt evaluations of 4 MB each.
"""

from __future__ import annotations

import hashlib
import secrets

from .keys import b64decode

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
GROUP_LENGTH = 4
SECRET_LENGTH = 12  # characters: 60 bits
FINGERPRINT_LENGTH = 8  # characters: 40 bits
CODE_LENGTH = SECRET_LENGTH + FINGERPRINT_LENGTH
FINGERPRINT_DOMAIN = b"loa-claim-fingerprint-v1\x00"
# scrypt cost: about 15 ms on a desktop core, a few times that on a Raspberry Pi; 4 MB of memory
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**12, 8, 1


class ClaimCodeError(ValueError):
    """A claim code is not of the expected shape; the message says what to do."""


def normalise(code: str) -> str:
    """Upper case, no separators, and the usual misreadings mapped (O->0, I/L->1)."""
    cleaned = code.strip().upper().replace("-", "").replace(" ", "")
    return cleaned.translate(str.maketrans("OIL", "011"))


def new_secret() -> str:
    """The random part of a new code (normalised, no separators)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(SECRET_LENGTH))


def fingerprint(secret: str, root_public_key: bytes) -> str:
    """The eight characters that tie a code's secret to one root public key."""
    salt = FINGERPRINT_DOMAIN + normalise(secret).encode()
    digest = hashlib.scrypt(root_public_key, salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=5)
    bits = int.from_bytes(digest, "big")  # 40 bits, 5 per character
    return "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in reversed(range(FINGERPRINT_LENGTH)))


def compose(secret: str, root_public_key: bytes) -> str:
    """The code shown to the admin: secret and fingerprint in groups of four."""
    raw = normalise(secret) + fingerprint(secret, root_public_key)
    return "-".join(raw[i:i + GROUP_LENGTH] for i in range(0, len(raw), GROUP_LENGTH))


def split(code: str) -> tuple[str, str]:
    """The secret and the fingerprint of a typed code; raises ClaimCodeError when it is malformed."""
    raw = normalise(code)
    if len(raw) == SECRET_LENGTH:
        raise ClaimCodeError("this claim code has no root key fingerprint (3 groups; it was made before "
                             "fingerprints existed): ask for a new claim code in the console")
    if len(raw) != CODE_LENGTH or set(raw) - set(ALPHABET):
        raise ClaimCodeError("a claim code is 5 groups of 4 letters and digits, like "
                             "K7QM-2XWD-9RTA-3F8H-PQ2Z")
    return raw[:SECRET_LENGTH], raw[SECRET_LENGTH:]


def matches_root_key(code: str, root_public_key_text: str) -> bool:
    """Whether root_public_key_text (base64, as the controller sends it) is the key the code names."""
    secret, expected = split(code)
    try:
        raw_key = b64decode(root_public_key_text)
    except ValueError:
        return False
    return len(raw_key) == 32 and secrets.compare_digest(fingerprint(secret, raw_key), expected)
