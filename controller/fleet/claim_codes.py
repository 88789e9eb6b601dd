"""One-time enrolment codes: short enough to type from the console, stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
GROUPS, GROUP_LENGTH = 3, 4


def new_code() -> str:
    """A random code like 'K7QM-2XWD-9RTA' (60 bits)."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
    return "-".join(raw[i:i + GROUP_LENGTH] for i in range(0, len(raw), GROUP_LENGTH))


def normalise(code: str) -> str:
    """Upper case, no separators, and the usual misreadings mapped (O->0, I/L->1)."""
    cleaned = code.strip().upper().replace("-", "").replace(" ", "")
    return cleaned.translate(str.maketrans("OIL", "011"))


def code_hash(code: str) -> str:
    """What is stored in place of the code."""
    return hashlib.sha256(normalise(code).encode()).hexdigest()
