"""The agent's revocation list: only the root's, only newer ones, and still there after a reboot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loalang_protocol import envelope, topics
from loalang_protocol.envelope import ControllerVerifier, Counter, Rejected
from loalang_protocol.keys import KeyPair
from loalang_protocol.revocation import issue_revocation_list
from receiver_agent.revocations import Revocations
from receiver_agent.state import AgentState
from receiver_agent.storage import WRITER

pytestmark = pytest.mark.unit

ROOT = KeyPair.generate()
OLD, NEW = "0123456789abcdef", "fedcba9876543210"


def _agent_side(path: Path) -> Revocations:
    return Revocations(AgentState.load(path), ControllerVerifier(ROOT.private.public_key()), "loa-1")


def _published(document: dict[str, Any], sealed_by: KeyPair | None = None) -> bytes:
    """The list in an envelope, as the controller publishes it (the envelope's key does not matter)."""
    topic = topics.revocations(ROOT.kid)
    return envelope.seal(topic, document, sealed_by or KeyPair.generate(), Counter(1, 1), 60)


def test_a_newer_list_is_taken_and_survives_a_reboot(tmp_path: Path) -> None:
    revocations = _agent_side(tmp_path / "state.json")
    assert revocations.take(_published(issue_revocation_list(ROOT, [OLD], 1)))
    assert revocations.verifier.revoked == {OLD} and revocations.serial == 1
    WRITER.flush()
    rebooted = _agent_side(tmp_path / "state.json")
    assert rebooted.serial == 1 and rebooted.verifier.revoked == {OLD}


def test_an_older_or_equal_list_is_ignored(tmp_path: Path) -> None:
    revocations = _agent_side(tmp_path / "state.json")
    revocations.take(_published(issue_revocation_list(ROOT, [OLD, NEW], 2)))
    assert not revocations.take(_published(issue_revocation_list(ROOT, [], 1)))
    assert not revocations.take(_published(issue_revocation_list(ROOT, [], 2)))
    assert revocations.verifier.revoked == {OLD, NEW}


def test_a_list_not_signed_by_the_root_is_rejected(tmp_path: Path) -> None:
    revocations = _agent_side(tmp_path / "state.json")
    forger = KeyPair.generate()
    forged = {**issue_revocation_list(forger, [NEW], 9), "root": ROOT.kid}
    with pytest.raises(Rejected) as refused:
        revocations.take(_published(forged, sealed_by=forger))
    assert refused.value.reason == "revocation_not_root_signed"
    assert revocations.serial is None and revocations.verifier.revoked == set()


def test_a_damaged_list_on_disk_is_not_trusted(tmp_path: Path) -> None:
    state = AgentState.load(tmp_path / "state.json")
    state.revocation = {**issue_revocation_list(ROOT, [OLD], 1), "revoked": []}
    state.save(now=True)
    revocations = _agent_side(tmp_path / "state.json")
    assert revocations.serial is None and revocations.verifier.revoked == set()
