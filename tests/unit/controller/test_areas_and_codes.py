"""The area tree of any depth, and claim codes a technician can type."""

from __future__ import annotations

import pytest

from controller.fleet import claim_codes
from controller.fleet.areas import AreaError, chain, subtree
from loalang_protocol import claim_code
from loalang_protocol.keys import KeyPair

pytestmark = pytest.mark.unit


def test_chain_and_subtree_of_a_deep_tree() -> None:
    parents: dict[str, str | None] = {
        "p": None, "r": "p", "c": "r", "v1": "c", "v2": "c", "c2": "p", "v3": "c2",
    }
    assert chain(parents, "v1") == ["p", "r", "c", "v1"]
    assert subtree(parents, "r") == {"r", "c", "v1", "v2"}
    assert subtree(parents, "v3") == {"v3"}
    assert subtree(parents, "p") == set(parents)


def test_a_cycle_is_reported_not_followed_forever() -> None:
    with pytest.raises(AreaError):
        chain({"a": "b", "b": "a"}, "a")


def test_claim_codes_are_random_and_forgiving_to_type() -> None:
    root = KeyPair.generate().public_text
    codes = {claim_codes.new_code(root) for _ in range(200)}
    assert len(codes) == 200
    code = next(iter(codes))
    assert len(code) == 24 and code.count("-") == 4
    assert not set(code.replace("-", "")) & set("ILOU")
    typed = code.lower().replace("-", " ")
    assert claim_codes.code_hash(typed) == claim_codes.code_hash(code)
    assert claim_codes.code_hash("0O1I-L000-0000") == claim_codes.code_hash("0011-1000-0000")
    assert claim_code.matches_root_key(typed, root)
