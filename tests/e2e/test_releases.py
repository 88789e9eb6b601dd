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
from tests.testkit import Fleet, audit_entries, fake_release_wheels, new_commune, user_client, wait_for

pytestmark = pytest.mark.e2e

# Versions 7.x here: the session's controller is shared, and the over-the-air test holds 1.0.0-3.0.1.

BIN = Path(sys.executable).parent
OCTETS = "application/octet-stream"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "radio-controller"), *args], capture_output=True, text=True, env=env)


def _pack(tmp_path: Path, key_dir: Path, version: str, name: str | None = None) -> Path:
    out = tmp_path / (name or f"agent-{version}.release")
    wheels = [str(w) for w in fake_release_wheels(tmp_path / f"wheels-{out.name}", version)]
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
    path = _pack(tmp_path, keys, "7.0.0")
    added = _upload(fleet.http, path)
    assert added.status_code == 201, added.text
    release = added.json()
    assert release["version"] == "7.0.0" and release["notes"] == "notes of 7.0.0"
    assert release["signed_by"] == KeyPair.load(keys / "release.key").kid
    assert _upload(fleet.http, path).status_code == 200, "the same file again is no news"
    other = _upload(fleet.http, _pack(tmp_path, keys, "7.0.0", name="another-7.0.0.release"))
    assert other.status_code == 409 and other.json()["code"] == "release_version_exists"
    listed = fleet.http.get("/api/v1/releases").json()
    assert [r["version"] for r in listed].count("7.0.0") == 1
    assert fleet.http.get("/api/v1/releases/7.0.0").json()["sha256"] == release["sha256"]
    assert audit_entries(fleet, "release.add", "admin")


def test_a_release_signed_by_a_control_key_is_refused_and_audited(fleet: Fleet, tmp_path: Path) -> None:
    keys = fleet.controller.data_dir / "keys"
    stolen = tmp_path / "control-as-release"
    stolen.mkdir()
    shutil.copy(keys / "signing.key", stolen / "release.key")
    shutil.copy(keys / "signing.cert.json", stolen / "release.cert.json")
    refused = _upload(fleet.http, _pack(tmp_path, stolen, "7.1.0"))
    assert refused.status_code == 422 and refused.json()["code"] == "release_not_certified", refused.text
    assert refused.json()["field"] == "file"
    refusals = audit_entries(fleet, "release.refused", "admin")
    assert any(e["detail"]["reason"] == "bad_certificate" for e in refusals)
    assert fleet.http.get("/api/v1/releases/7.1.0").status_code == 404


def test_a_release_key_another_root_certified_is_refused(fleet: Fleet, tmp_path: Path) -> None:
    folder = tmp_path / "foreign"
    folder.mkdir()
    other_root = tmp_path / "other-root.key"
    KeyPair.generate().save(other_root)
    certified = _cli("keys", "certify-release", "--dir", str(folder), "--root-key", str(other_root))
    assert certified.returncode == 0, certified.stderr
    refused = _upload(fleet.http, _pack(tmp_path, folder, "7.2.0"))
    assert refused.status_code == 422 and refused.json()["code"] == "release_not_certified"


def test_a_release_changed_after_signing_is_refused_by_the_api_and_the_command(
        fleet: Fleet, tmp_path: Path) -> None:
    path = _pack(tmp_path, _certified_release_key(fleet, tmp_path), "7.3.0")
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
    assert fleet.http.get("/api/v1/releases/7.3.0").status_code == 404


def test_the_command_adds_a_release_as_the_api_does(fleet: Fleet, tmp_path: Path) -> None:
    path = _pack(tmp_path, _certified_release_key(fleet, tmp_path), "7.4.0")
    added = _cli("releases", "add", str(path), env=fleet.controller.environment())
    assert added.returncode == 0, added.stderr
    assert fleet.http.get("/api/v1/releases/7.4.0").json()["notes"] == "notes of 7.4.0"


def test_only_an_admin_of_the_whole_tree_adds_releases_and_only_devices_download_them(
        fleet: Fleet, tmp_path: Path) -> None:
    path = _pack(tmp_path, _certified_release_key(fleet, tmp_path), "7.5.0")
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

    wheels = fake_release_wheels(tmp_path / "lying", "1.0.0")
    out = tmp_path / "lying.release"
    pack(wheels, "9.9.9", "", key, cert, out)
    with tarfile.open(out) as tar:
        assert MANIFEST in tar.getnames()
    refused = _upload(fleet.http, out)
    assert refused.status_code == 422 and refused.json()["code"] == "release_malformed"


def test_a_rollout_halts_after_a_stage_whose_device_refuses_and_says_why(fleet: Fleet,
                                                                       tmp_path: Path) -> None:
    """Agents run here from the development tree, not from a release folder: each refuses the offer
    (`not_installed_from_release`), so the first stage fails and the second is never offered."""
    path = _pack(tmp_path, _certified_release_key(fleet, tmp_path), "7.6.0")
    assert _upload(fleet.http, path).status_code == 201
    _, (village,) = new_commune(fleet, villages=1)
    agents = [fleet.enrolled_agent(area=village) for _ in range(2)]
    for _, config in agents:
        fleet.start(config)
    for device_id, _ in agents:
        wait_for(lambda d=device_id: fleet.online(d), 20.0, what=f"{device_id} online")
    created = fleet.http.post("/api/v1/rollouts", json={"release": "7.6.0", "areas": [village],
                                                         "stages": [1, "100%"], "gate_s": 30})
    assert created.status_code == 201, created.text
    rollout = created.json()
    assert rollout["stages"] == [1, 2] and rollout["state"] == "running"

    def halted() -> dict | None:
        found: dict = fleet.http.get(f"/api/v1/rollouts/{rollout['id']}").json()
        return found if found["state"] == "halted" else None

    ended = wait_for(halted, 30.0, interval=0.5, what="the rollout halted")
    first = next(d for d in ended["devices"] if d["stage"] == 1)
    second = next(d for d in ended["devices"] if d["stage"] == 2)
    assert first["state"] == "failed" and "not_installed_from_release" in first["detail"]
    assert second["state"] == "waiting", "the second stage was never offered the release"
    assert "stage 1" in ended["reason"] and first["device_id"] in ended["reason"]
    assert audit_entries(fleet, "rollout.halt", "controller")
    resumed = fleet.http.post(f"/api/v1/rollouts/{rollout['id']}/resume")
    assert resumed.status_code == 200 and resumed.json()["state"] == "running"
    paused = fleet.http.post(f"/api/v1/rollouts/{rollout['id']}/pause")
    assert paused.json()["state"] == "paused"
    again = fleet.http.post(f"/api/v1/rollouts/{rollout['id']}/pause")
    assert again.status_code == 409 and again.json()["code"] == "rollout_state"
    busy = fleet.http.post("/api/v1/rollouts", json={"release": "7.6.0", "devices": [second["device_id"]]})
    assert busy.status_code == 409 and busy.json()["code"] == "device_in_rollout"


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"release": "9.9.9", "areas": ["xa-mot"]}, 404, "unknown_release"),
    ({"release": "{held}", "areas": ["no-such-area"]}, 404, "unknown_area"),
    ({"release": "{held}", "devices": ["no-such-device"]}, 404, "unknown_device"),
    ({"release": "{held}", "areas": []}, 422, "rollout_no_devices"),
    ({"release": "{held}", "areas": ["xa-mot"], "stages": [5, 2]}, 422, "invalid_stages"),
    ({"release": "{held}", "areas": ["xa-mot"], "gate_s": 5}, 422, None),
])
def test_a_rollout_that_cannot_be_is_refused_with_its_reason(fleet: Fleet, tmp_path: Path, body: dict,
                                                             status: int, code: str | None) -> None:
    path = _pack(tmp_path, _certified_release_key(fleet, tmp_path), "7.7.0")
    _upload(fleet.http, path)
    fleet.enrolled_agent(area="thon-a")
    body = {k: ("7.7.0" if v == "{held}" else v) for k, v in body.items()}
    answer = fleet.http.post("/api/v1/rollouts", json=body)
    assert answer.status_code == status, answer.text
    if code is not None:
        assert answer.json()["code"] == code
