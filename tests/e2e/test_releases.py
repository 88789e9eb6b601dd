"""Signed agent releases on the controller: a release key from the key ceremony signs a release where
it is built (`keys certify-release`, `releases pack`); the controller keeps it only when its root
certified that key for releases and nothing changed since, and audits every refusal."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import pytest

from loalang_protocol.keys import PURPOSE_RELEASE, KeyPair, issue_certificate
from loalang_protocol.releases import MANIFEST
from tests.testkit import Fleet, audit_entries, user_client

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
OCTETS = "application/octet-stream"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "radio-controller"), *args], capture_output=True, text=True, env=env)


def _wheels(folder: Path, version: str) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    agent = folder / f"loalang-{version}-py3-none-any.whl"
    agent.write_bytes(b"PK agent wheel " + version.encode() * 50)
    dependency = folder / "paho_mqtt-2.1.0-py3-none-any.whl"
    dependency.write_bytes(b"PK dependency " * 100)
    return [str(agent), str(dependency)]


def _pack(tmp_path: Path, key_dir: Path, version: str, name: str | None = None) -> Path:
    out = tmp_path / (name or f"agent-{version}.release")
    wheels = _wheels(tmp_path / f"wheels-{out.name}", version)
    packed = _cli("releases", "pack", *wheels, "--version", version, "--notes", f"notes of {version}",
                  "--key-dir", str(key_dir), "--out", str(out))
    assert packed.returncode == 0, packed.stderr
    return out


def _certified_release_key(fleet: Fleet, tmp_path: Path) -> Path:
    """The ceremony: the root key certifies a release key, kept apart from the controller."""
    folder = tmp_path / "release-keys"
    certified = _cli("keys", "certify-release", "--dir", str(folder), "--root-key",
                     str(fleet.controller.data_dir / "keys" / "root.key"))
    assert certified.returncode == 0, certified.stderr
    return folder


def _upload(client: httpx.Client, path: Path) -> httpx.Response:
    with path.open("rb") as source:
        return client.post("/api/v1/releases", files={"file": (path.name, source, OCTETS)})


def test_a_release_signed_with_a_certified_release_key_is_kept_once(fleet: Fleet, tmp_path: Path) -> None:
    keys = _certified_release_key(fleet, tmp_path)
    path = _pack(tmp_path, keys, "2.0.0")
    added = _upload(fleet.http, path)
    assert added.status_code == 201, added.text
    release = added.json()
    assert release["version"] == "2.0.0" and release["notes"] == "notes of 2.0.0"
    assert release["signed_by"] == KeyPair.load(keys / "release.key").kid
    assert _upload(fleet.http, path).status_code == 200, "the same file again is no news"
    other = _upload(fleet.http, _pack(tmp_path, keys, "2.0.0", name="another-2.0.0.release"))
    assert other.status_code == 409 and other.json()["code"] == "release_version_exists"
    listed = fleet.http.get("/api/v1/releases").json()
    assert [r["version"] for r in listed].count("2.0.0") == 1
    assert fleet.http.get("/api/v1/releases/2.0.0").json()["sha256"] == release["sha256"]
    assert audit_entries(fleet, "release.add", "admin")


def test_a_release_signed_by_a_control_key_is_refused_and_audited(fleet: Fleet, tmp_path: Path) -> None:
    keys = fleet.controller.data_dir / "keys"
    stolen = tmp_path / "control-as-release"
    stolen.mkdir()
    shutil.copy(keys / "signing.key", stolen / "release.key")
    shutil.copy(keys / "signing.cert.json", stolen / "release.cert.json")
    refused = _upload(fleet.http, _pack(tmp_path, stolen, "2.1.0"))
    assert refused.status_code == 422 and refused.json()["code"] == "release_not_certified", refused.text
    assert refused.json()["field"] == "file"
    refusals = audit_entries(fleet, "release.refused", "admin")
    assert any(e["detail"]["reason"] == "bad_certificate" for e in refusals)
    assert fleet.http.get("/api/v1/releases/2.1.0").status_code == 404


def test_a_release_key_another_root_certified_is_refused(fleet: Fleet, tmp_path: Path) -> None:
    folder = tmp_path / "foreign"
    folder.mkdir()
    other_root = tmp_path / "other-root.key"
    KeyPair.generate().save(other_root)
    certified = _cli("keys", "certify-release", "--dir", str(folder), "--root-key", str(other_root))
    assert certified.returncode == 0, certified.stderr
    refused = _upload(fleet.http, _pack(tmp_path, folder, "2.2.0"))
    assert refused.status_code == 422 and refused.json()["code"] == "release_not_certified"


def test_a_release_changed_after_signing_is_refused_by_the_api_and_the_command(
        fleet: Fleet, tmp_path: Path) -> None:
    path = _pack(tmp_path, _certified_release_key(fleet, tmp_path), "2.3.0")
    with tarfile.open(path) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            if name.endswith(".whl") and name.startswith("paho"):
                data = data.replace(b"dependency", b"backdoored")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    refused = _upload(fleet.http, path)
    assert refused.status_code == 422 and refused.json()["code"] == "release_tampered", refused.text
    added = _cli("releases", "add", str(path), env=fleet.controller.environment())
    assert added.returncode == 1 and "release_tampered" in added.stderr
    assert fleet.http.get("/api/v1/releases/2.3.0").status_code == 404


def test_the_command_adds_a_release_as_the_api_does(fleet: Fleet, tmp_path: Path) -> None:
    path = _pack(tmp_path, _certified_release_key(fleet, tmp_path), "2.4.0")
    added = _cli("releases", "add", str(path), env=fleet.controller.environment())
    assert added.returncode == 0, added.stderr
    assert fleet.http.get("/api/v1/releases/2.4.0").json()["notes"] == "notes of 2.4.0"


def test_only_an_admin_of_the_whole_tree_adds_releases_and_only_devices_download_them(
        fleet: Fleet, tmp_path: Path) -> None:
    path = _pack(tmp_path, _certified_release_key(fleet, tmp_path), "2.5.0")
    operator, _ = user_client(fleet, "operator", None)
    assert _upload(operator, path).status_code == 403
    commune_admin, _ = user_client(fleet, "admin", "xa-mot")
    answer = _upload(commune_admin, path)
    assert answer.status_code == 403 and answer.json()["code"] == "whole_tree_only"
    release = _upload(fleet.http, path).json()
    anonymous = httpx.get(f"{fleet.controller.url}{release['download_url']}")
    assert anonymous.status_code in (401, 403)
    assert fleet.http.get(release["download_url"]).status_code in (401, 403), "a user is not a device"


def test_a_manifest_that_lies_about_its_version_cannot_be_added(fleet: Fleet, tmp_path: Path) -> None:
    """A release key signs what it is given: the controller still refuses a release whose manifest does
    not hold the agent wheel of the version it names."""
    keys = _certified_release_key(fleet, tmp_path)
    key = KeyPair.load(keys / "release.key")
    cert = issue_certificate(KeyPair.load(fleet.controller.data_dir / "keys" / "root.key"), key.public_bytes,
                             PURPOSE_RELEASE, 3600)
    from loalang_protocol.releases import pack

    wheels = [Path(w) for w in _wheels(tmp_path / "lying", "1.0.0")]
    out = tmp_path / "lying.release"
    pack(wheels, "9.9.9", "", key, cert, out)
    with tarfile.open(out) as tar:
        assert MANIFEST in tar.getnames()
    refused = _upload(fleet.http, out)
    assert refused.status_code == 422 and refused.json()["code"] == "release_malformed"
