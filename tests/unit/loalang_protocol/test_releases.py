"""A release is trusted only when a key certified for releases signed it and nothing changed since."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from loalang_protocol.keys import PURPOSE_CONTROL, PURPOSE_RELEASE, KeyPair, issue_certificate
from loalang_protocol.releases import MANIFEST, SIGNATURE, ReleaseRefused, extract_wheels, pack, verify
from tests.testkit import fake_release_wheels

pytestmark = pytest.mark.unit

ROOT = KeyPair.generate()
RELEASE_KEY = KeyPair.generate()
RELEASE_CERT = issue_certificate(ROOT, RELEASE_KEY.public_bytes, PURPOSE_RELEASE, 86400)


def _wheels(folder: Path, version: str = "2.0.0") -> list[Path]:
    return fake_release_wheels(folder, version)


def _release(tmp_path: Path, key: KeyPair = RELEASE_KEY, cert: dict | None = None) -> Path:
    out = tmp_path / "agent-2.0.0.release"
    pack(_wheels(tmp_path / "wheels"), "2.0.0", "louder attention signal", key, cert or RELEASE_CERT, out)
    return out


def _refused(path: Path, **kwargs) -> str:
    with pytest.raises(ReleaseRefused) as refused:
        verify(path, ROOT.private.public_key(), **kwargs)
    return refused.value.reason


def _rewrite(path: Path, change) -> None:
    """Write the release again with change(name, data) -> data | None applied to each member."""
    with tarfile.open(path) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            changed = change(name, data)
            if changed is not None:
                info = tarfile.TarInfo(name)
                info.size = len(changed)
                tar.addfile(info, io.BytesIO(changed))


def test_a_signed_release_is_verified_and_its_wheels_extracted(tmp_path: Path) -> None:
    path = _release(tmp_path)
    release = verify(path, ROOT.private.public_key())
    assert release.manifest.version == "2.0.0" and release.manifest.notes == "louder attention signal"
    assert release.signed_by == RELEASE_KEY.kid
    assert release.manifest.requirement == "loalang[agent]==2.0.0"
    written = extract_wheels(path, release, tmp_path / "out")
    assert sorted(p.read_bytes() for p in written) == sorted(p.read_bytes() for p in _wheels(tmp_path / "w2"))


def test_a_release_signed_by_a_control_key_is_refused(tmp_path: Path) -> None:
    control = KeyPair.generate()
    cert = issue_certificate(ROOT, control.public_bytes, PURPOSE_CONTROL, 86400)
    assert _refused(_release(tmp_path, control, cert)) == "bad_certificate"


def test_a_release_signed_by_a_key_another_root_certified_is_refused(tmp_path: Path) -> None:
    other_root = KeyPair.generate()
    cert = issue_certificate(other_root, RELEASE_KEY.public_bytes, PURPOSE_RELEASE, 86400)
    assert _refused(_release(tmp_path, RELEASE_KEY, cert)) == "bad_certificate"


def test_a_release_whose_key_is_not_the_certified_one_is_refused(tmp_path: Path) -> None:
    assert _refused(_release(tmp_path, KeyPair.generate(), RELEASE_CERT)) == "bad_signature"


def test_a_release_by_a_revoked_key_is_refused(tmp_path: Path) -> None:
    assert _refused(_release(tmp_path), revoked=frozenset({RELEASE_KEY.kid})) == "key_revoked"


def test_an_expired_certificate_is_refused(tmp_path: Path) -> None:
    path = _release(tmp_path)
    assert _refused(path, now_ms=RELEASE_CERT["exp"] + 1) == "bad_certificate"


def test_a_wheel_changed_after_signing_is_refused(tmp_path: Path) -> None:
    path = _release(tmp_path)
    evil = b"evil-wheel"  # as long as the word it replaces in the dependency's wheel
    _rewrite(path, lambda name, data: data.replace(b"dependency", evil) if name.endswith(".whl") else data)
    assert _refused(path) == "tampered"


def test_a_manifest_changed_after_signing_is_refused(tmp_path: Path) -> None:
    path = _release(tmp_path)
    _rewrite(path, lambda name, data: data.replace(b"louder", b"softer") if name == MANIFEST else data)
    assert _refused(path) == "bad_signature"


def test_a_file_the_manifest_does_not_name_is_refused(tmp_path: Path) -> None:
    path = _release(tmp_path)
    with tarfile.open(path, "a") as tar:
        info = tarfile.TarInfo("evil-1.0-py3-none-any.whl")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    assert _refused(path) == "tampered"


def test_a_missing_wheel_is_refused(tmp_path: Path) -> None:
    path = _release(tmp_path)
    _rewrite(path, lambda name, data: None if name.startswith("paho") else data)
    assert _refused(path) == "tampered"


@pytest.mark.parametrize("name", ["../escape.whl", "sub/dir.whl", ".hidden"])
def test_a_member_outside_the_top_level_is_refused(tmp_path: Path, name: str) -> None:
    path = _release(tmp_path)
    with tarfile.open(path, "a") as tar:
        info = tarfile.TarInfo(name)
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    assert _refused(path) == "malformed"


def test_a_link_inside_a_release_is_refused(tmp_path: Path) -> None:
    path = _release(tmp_path)
    with tarfile.open(path, "a") as tar:
        info = tarfile.TarInfo("link.whl")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    assert _refused(path) == "malformed"


@pytest.mark.parametrize("data", [b"", b"not a tar at all" * 100, b"\0" * 10240])
def test_what_is_not_a_release_is_refused(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "junk.release"
    path.write_bytes(data)
    assert _refused(path) == "malformed"


def test_a_release_without_the_agent_of_its_version_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "r.release"
    wheels = _wheels(tmp_path / "wheels", version="1.9.0")
    pack(wheels, "2.0.0", "", RELEASE_KEY, RELEASE_CERT, out)
    assert _refused(out) == "malformed"


@pytest.mark.parametrize("version", ["", "2", "v2.0.0", "2.0.0; rm -rf /", "2.0.0/../x", "9" * 50])
def test_a_version_that_is_not_one_cannot_be_packed(tmp_path: Path, version: str) -> None:
    with pytest.raises(ValueError):
        pack(_wheels(tmp_path / "wheels"), version, "", RELEASE_KEY, RELEASE_CERT, tmp_path / "r.release")


def test_a_signature_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = _release(tmp_path)
    _rewrite(path, lambda name, data: b"{not json" if name == SIGNATURE else data)
    assert _refused(path) == "malformed"


def test_a_signature_without_its_fields_is_refused(tmp_path: Path) -> None:
    path = _release(tmp_path)
    _rewrite(path, lambda name, data: json.dumps({"sig": "x"}).encode() if name == SIGNATURE else data)
    assert _refused(path) == "malformed"
