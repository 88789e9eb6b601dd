"""The root-signed revocation list, and the verifier refusing the keys it names."""

from __future__ import annotations

from typing import Any

import pytest

from loalang_protocol import envelope
from loalang_protocol.canonical import canonical_json
from loalang_protocol.envelope import ControllerVerifier, Counter, Rejected
from loalang_protocol.keys import PURPOSE_CONTROL, KeyPair, b64encode, issue_certificate
from loalang_protocol.revocation import (
    MAX_REVOKED,
    REVOKE_DOMAIN,
    RevocationError,
    check_revocation_list,
    is_newer,
    issue_revocation_list,
    root_kid,
)

pytestmark = pytest.mark.unit

ROOT = KeyPair.generate()
ROOT_PUBLIC = ROOT.private.public_key()
KID = "0123456789abcdef"


def _resigned(doc: dict[str, Any], key: KeyPair) -> dict[str, Any]:
    body = {k: v for k, v in doc.items() if k != "sig"}
    return {**body, "sig": b64encode(key.sign(REVOKE_DOMAIN + canonical_json(body)))}


def test_a_root_signed_list_is_checked() -> None:
    checked = check_revocation_list(issue_revocation_list(ROOT, [KID, KID], 3), ROOT_PUBLIC)
    assert checked.revoked == {KID} and checked.serial == 3
    assert checked.document["root"] == ROOT.kid == root_kid(ROOT_PUBLIC)


def test_a_list_signed_by_another_key_is_not_trusted() -> None:
    forged = _resigned(issue_revocation_list(ROOT, [KID], 2), KeyPair.generate())
    with pytest.raises(RevocationError) as refused:
        check_revocation_list(forged, ROOT_PUBLIC)
    assert refused.value.reason == "not_root_signed"


def test_a_changed_list_is_not_trusted() -> None:
    doc = {**issue_revocation_list(ROOT, [KID], 2), "serial": 3}
    with pytest.raises(RevocationError, match="not signed by the root") as refused:
        check_revocation_list(doc, ROOT_PUBLIC)
    assert refused.value.reason == "not_root_signed"


def test_a_certificate_signature_cannot_pass_for_a_list() -> None:
    """The list has its own signing domain: nothing else the root signed can be replayed as one."""
    doc = issue_revocation_list(ROOT, [KID], 2)
    body = {k: v for k, v in doc.items() if k != "sig"}
    doc["sig"] = b64encode(ROOT.sign(b"loa-cert-v1\x00" + canonical_json(body)))
    with pytest.raises(RevocationError):
        check_revocation_list(doc, ROOT_PUBLIC)


@pytest.mark.parametrize("change", [
    {"serial": True}, {"serial": 0}, {"serial": "2"}, {"revoked": ["ABCDEF0123456789"]},
    {"revoked": [KID + "\n"]}, {"revoked": [KID, KID]}, {"revoked": "x"}, {"extra": 1}, {"issued": -1},
    {"revoked": [f"{n:016x}" for n in range(MAX_REVOKED + 1)]},
])
def test_malformed_lists_are_refused(change: dict[str, Any]) -> None:
    doc = _resigned({**issue_revocation_list(ROOT, [KID], 2), **change}, ROOT)
    with pytest.raises(RevocationError) as refused:
        check_revocation_list(doc, ROOT_PUBLIC)
    assert refused.value.reason == "malformed"


@pytest.mark.parametrize("doc", [None, [], "x", {}])
def test_what_is_not_a_list_is_malformed(doc: Any) -> None:
    with pytest.raises(RevocationError, match="fields"):
        check_revocation_list(doc, ROOT_PUBLIC)


def test_only_a_higher_serial_replaces_the_list_held() -> None:
    held = check_revocation_list(issue_revocation_list(ROOT, [KID], 2), ROOT_PUBLIC)
    same = check_revocation_list(issue_revocation_list(ROOT, [], 2), ROOT_PUBLIC)
    older = check_revocation_list(issue_revocation_list(ROOT, [], 1), ROOT_PUBLIC)
    newer = check_revocation_list(issue_revocation_list(ROOT, [KID], 3), ROOT_PUBLIC)
    assert is_newer(held, None) and is_newer(newer, held)
    assert not is_newer(same, held) and not is_newer(older, held)


def test_the_verifier_forgets_a_key_once_it_is_revoked() -> None:
    signing = KeyPair.generate()
    cert = issue_certificate(ROOT, signing.public_bytes, PURPOSE_CONTROL, 3600)
    verifier = ControllerVerifier(ROOT_PUBLIC)
    topic = "loa/v1/dev/d/cmd"
    verifier.open(topic, envelope.seal(topic, {}, signing, Counter(1, 1), 60, cert))
    verifier.use_revocations({signing.kid})
    with pytest.raises(Rejected) as refused:
        verifier.open(topic, envelope.seal(topic, {}, signing, Counter(1, 2), 60, cert))
    assert refused.value.reason == "revoked_key"
    assert signing.kid not in verifier._known
