"""One-time enrolment codes: short enough to type from the console, stored only as a hash.

The format (secret and root key fingerprint) is the protocol's: loalang_protocol.claim_code.
"""

from __future__ import annotations

import hashlib

from loalang_protocol import claim_code
from loalang_protocol.keys import b64decode

normalise = claim_code.normalise


def new_code(root_public_key: str) -> str:
    """A random code like 'K7QM-2XWD-9RTA-3F8H-PQ2Z': 60 random bits, then the fingerprint of the
    root public key (base64, as the keyring holds it) that the board checks at enrolment."""
    return claim_code.compose(claim_code.new_secret(), b64decode(root_public_key))


def code_hash(code: str) -> str:
    """What is stored in place of the code."""
    return hashlib.sha256(normalise(code).encode()).hexdigest()
