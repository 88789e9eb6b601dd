"""The agent checks a release itself before installing it: a release the controller should never have
offered (changed after signing, signed by a control key, by a revoked key) is refused on the board,
and nothing is installed. The release is downloaded over HTTP as from the controller."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from loalang_protocol.keys import PURPOSE_CONTROL, PURPOSE_RELEASE, KeyPair, issue_certificate
from loalang_protocol.messages import ReleaseOffer
from loalang_protocol.releases import pack
from receiver_agent.media.cache import MediaCache
from receiver_agent.updates import launcher
from receiver_agent.updates.installer import Installer, UpdateFailed, install_root
from tests.testkit import HttpSite

pytestmark = pytest.mark.unit

ROOT = KeyPair.generate()
DEVICE = KeyPair.generate()


def _release(tmp_path: Path, purpose: str = PURPOSE_RELEASE, key: KeyPair | None = None,
             tamper: bool = False) -> tuple[bytes, KeyPair]:
    key = key or KeyPair.generate()
    cert = issue_certificate(ROOT, key.public_bytes, purpose, 3600)
    wheels = tmp_path / "wheels"
    wheels.mkdir(exist_ok=True)
    agent = wheels / "loalang-2.0.0-py3-none-any.whl"
    agent.write_bytes(b"PK the agent" * 100)
    out = tmp_path / "agent.release"
    pack([agent], "2.0.0", "", key, cert, out)
    if not tamper:
        return out.read_bytes(), key
    with tarfile.open(out) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]
    changed = io.BytesIO()
    with tarfile.open(fileobj=changed, mode="w") as tar:
        for name, data in members:
            data = data.replace(b"the agent", b"a backdoor") if name.endswith(".whl") else data
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return changed.getvalue(), key


def _prepare(tmp_path: Path, data: bytes, revoked: frozenset[str] = frozenset()) -> Path:
    """Offer data as the controller would and let the installer try it; returns the board's root."""
    sha = hashlib.sha256(data).hexdigest()
    site = HttpSite("127.0.0.1", {f"/releases/{sha}": lambda: (200, {}, data)})
    root = tmp_path / "board"
    (root / launcher.RELEASES).mkdir(parents=True)
    try:
        downloads = MediaCache(tmp_path / "downloads", site.url, "loa-1", DEVICE, url_prefix="/releases")
        installer = Installer(root, downloads, ROOT.private.public_key(), lambda: revoked, "1.0.0")
        installer.prepare(ReleaseOffer(version="2.0.0", sha256=sha, size=len(data)))
    finally:
        site.close()
    return root


@pytest.mark.parametrize(("kind", "reason"), [("tampered", "refused_tampered"),
                                              ("control key", "refused_bad_certificate"),
                                              ("revoked key", "refused_key_revoked")])
def test_a_release_the_board_cannot_trust_is_refused_and_nothing_installed(
        tmp_path: Path, kind: str, reason: str) -> None:
    if kind == "tampered":
        data, _ = _release(tmp_path, tamper=True)
        revoked: frozenset[str] = frozenset()
    elif kind == "control key":
        data, _ = _release(tmp_path, purpose=PURPOSE_CONTROL)
        revoked = frozenset()
    else:
        data, key = _release(tmp_path)
        revoked = frozenset({key.kid})
    with pytest.raises(UpdateFailed) as refused:
        _prepare(tmp_path, data, revoked)
    assert refused.value.reason == reason
    assert not any((tmp_path / "board" / launcher.RELEASES).iterdir()), "nothing was installed"
    assert launcher.read_state(tmp_path / "board") == {}, "nothing is on trial"


def test_a_download_that_is_not_the_offered_file_is_not_installed(tmp_path: Path) -> None:
    data, _ = _release(tmp_path)
    sha = hashlib.sha256(b"another file").hexdigest()
    site = HttpSite("127.0.0.1", {f"/releases/{sha}": lambda: (200, {}, data)})
    try:
        downloads = MediaCache(tmp_path / "downloads", site.url, "loa-1", DEVICE, url_prefix="/releases")
        installer = Installer(tmp_path, downloads, ROOT.private.public_key(), frozenset, "1.0.0")
        with pytest.raises(UpdateFailed) as failed:
            installer.prepare(ReleaseOffer(version="2.0.0", sha256=sha, size=len(data)))
    finally:
        site.close()
    assert failed.value.reason == "download_failed" and "hash_mismatch" in failed.value.detail


def test_an_agent_outside_a_release_folder_has_nothing_to_update() -> None:
    assert install_root() is None, "the test runs from the development tree"
