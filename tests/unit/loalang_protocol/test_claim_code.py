"""Claim codes: a secret and a fingerprint of the root key, bound together, in a shape that says what is
wrong when it is mistyped."""

from __future__ import annotations

import pytest

from loalang_protocol import claim_code
from loalang_protocol.keys import KeyPair, b64decode, b64encode

pytestmark = pytest.mark.unit


def test_the_fingerprint_is_fixed_by_the_format() -> None:
    """docs/protocol.md: 40 bits of scrypt(raw key, salt: domain and secret), 5 bits a character."""
    root = bytes(range(32))
    assert claim_code.compose("K7QM2XWD9RTA", root) == "K7QM-2XWD-9RTA-HYV0-DZ0G"
    assert claim_code.compose("k7qm-2xwd-9rta", root) == "K7QM-2XWD-9RTA-HYV0-DZ0G"
    assert claim_code.matches_root_key("k7qm 2xwd 9rta hyv0 dz0g", b64encode(root))


def new_code(root: str) -> str:
    return claim_code.compose(claim_code.new_secret(), b64decode(root))


def test_a_claim_code_names_only_its_root_key() -> None:
    root, other = KeyPair.generate().public_text, KeyPair.generate().public_text
    code = new_code(root)
    assert not claim_code.matches_root_key(code, other)
    secret, fingerprint = claim_code.split(code)
    assert claim_code.fingerprint(secret, b64decode(root)) == fingerprint
    other_secret = new_code(root)[:14]
    assert not claim_code.matches_root_key(other_secret + code[14:], root), "bound to the secret"


@pytest.mark.parametrize("typed", ["K7QM-2XWD-9RTA", "K7QM-2XWD-9RTA-3F8H", "K7QM-2XWD-9RTA-3F8H-PQ2Z-0000",
                                   "K7QM-2XWD-9RTA-3F8H-PQ2!", ""])
def test_a_claim_code_of_another_shape_is_refused_with_its_reason(typed: str) -> None:
    with pytest.raises(claim_code.ClaimCodeError, match="ask for a new claim code" if typed.count("-") == 2
                       else "5 groups of 4"):
        claim_code.split(typed)
