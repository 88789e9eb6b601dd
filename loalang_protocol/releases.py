"""Signed agent releases: one file that carries the agent's wheel and its locked dependencies.

A release is an uncompressed tar (wheels are zip files already) of three kinds of member, all at its
top level::

    release.json       the manifest: version, notes, and every wheel's name, size and SHA-256
    release.sig.json   {"cert": certificate of purpose "release", "sig": signature of the manifest}
    *.whl              the wheels the manifest names, nothing else

The signature covers the manifest's bytes as they are in the file, and the manifest covers every
wheel by its hash, so a changed byte anywhere is found. The certificate must be the root's, for
purpose `release`: a control key cannot sign a release, nor a release key control messages (each
verifier asks for its own purpose). Both the controller (when a release is added) and the agent
(before it installs one) verify a release with `verify`; it reads the file without extracting it and
refuses members that are not plain files at the top level.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .canonical import canonical_json
from .files import write_atomic
from .keys import (
    PURPOSE_RELEASE,
    CertificateError,
    KeyPair,
    b64decode,
    b64encode,
    check_certificate,
    verify_raw,
)

RELEASE_DOMAIN = b"loa-release-v1\x00"
MANIFEST = "release.json"
SIGNATURE = "release.sig.json"
PACKAGE = "loalang"
FORMAT = 1
MAX_MANIFEST_BYTES = 64 * 1024
MAX_WHEELS = 100
MAX_RELEASE_BYTES = 200 * 1024 * 1024  # the agent and its dependencies are some 15 MB for arm64
VERSION = re.compile(r"[0-9]+(\.[0-9]+){1,3}([.+-]?[A-Za-z0-9]+){0,3}")
WHEEL_NAME = re.compile(r"[A-Za-z0-9_.+-]{1,200}\.whl")
SHA256 = re.compile(r"[0-9a-f]{64}")


class ReleaseRefused(ValueError):
    """A release file that must not be stored or installed; reason is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class Wheel(BaseModel):
    """One wheel of a release, by name, size and hash."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=WHEEL_NAME.pattern)
    size: int = Field(ge=1, le=MAX_RELEASE_BYTES)
    sha256: str = Field(pattern=SHA256.pattern)


class Manifest(BaseModel):
    """What a release holds; signed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    format: int = Field(ge=FORMAT, le=FORMAT)
    package: str = Field(pattern=f"^{PACKAGE}$")
    version: str = Field(pattern=f"^{VERSION.pattern}$", max_length=40)
    notes: str = Field(default="", max_length=4000)
    built_ms: int = Field(ge=0)
    wheels: tuple[Wheel, ...] = Field(min_length=1, max_length=MAX_WHEELS)

    @property
    def requirement(self) -> str:
        """What pip installs from the release's wheels alone."""
        return f"{PACKAGE}[agent]=={self.version}"


@dataclass(frozen=True)
class VerifiedRelease:
    """A release whose signature, certificate and wheels were checked."""

    manifest: Manifest
    signed_by: str  # the release key's id
    sha256: str  # of the whole file
    size: int


def pack(wheels: list[Path], version: str, notes: str, key: KeyPair, certificate: dict[str, Any],
         out: Path) -> Manifest:
    """Write a release of these wheels to out, signed by key (whose certificate is for releases)."""
    names = [wheel.name for wheel in wheels]
    if len(set(names)) != len(names):
        raise ValueError("two wheels have the same name")
    manifest = Manifest(format=FORMAT, package=PACKAGE, version=version, notes=notes,
                        built_ms=int(time.time() * 1000),
                        wheels=tuple(Wheel(name=w.name, size=w.stat().st_size, sha256=_file_sha256(w))
                                     for w in wheels))
    manifest_bytes = canonical_json(manifest.model_dump())
    signature = {"cert": certificate, "sig": b64encode(key.sign(RELEASE_DOMAIN + manifest_bytes))}
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, MANIFEST, manifest_bytes)
        _add_bytes(tar, SIGNATURE, canonical_json(signature))
        for wheel in wheels:
            tar.add(wheel, arcname=wheel.name, recursive=False)
    return manifest


def verify(path: Path, root_public: Ed25519PublicKey, revoked: frozenset[str] = frozenset(),
           now_ms: int | None = None) -> VerifiedRelease:
    """Check a release file; raise ReleaseRefused saying why it cannot be trusted."""
    size = path.stat().st_size
    if size > MAX_RELEASE_BYTES:
        raise ReleaseRefused("too_large", f"a release is at most {MAX_RELEASE_BYTES} bytes")
    try:
        with tarfile.open(path, "r:") as tar:
            members = _plain_members(tar)
            manifest_bytes = _read_member(tar, members, MANIFEST, MAX_MANIFEST_BYTES)
            signature = _json(_read_member(tar, members, SIGNATURE, MAX_MANIFEST_BYTES), SIGNATURE)
            signed_by = _check_signature(signature, manifest_bytes, root_public, revoked, now_ms)
            manifest = _manifest(manifest_bytes)
            _check_wheels(tar, members, manifest)
    except (tarfile.TarError, EOFError) as exc:
        raise ReleaseRefused("malformed", f"not a release file: {exc}") from None
    return VerifiedRelease(manifest, signed_by, _file_sha256(path), size)


def extract_wheels(path: Path, release: VerifiedRelease, folder: Path) -> list[Path]:
    """Write a verified release's wheels into folder (checked again as they are written)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with tarfile.open(path, "r:") as tar:
        members = _plain_members(tar)
        for wheel in release.manifest.wheels:
            data = _read_member(tar, members, wheel.name, wheel.size)
            if hashlib.sha256(data).hexdigest() != wheel.sha256:
                raise ReleaseRefused("tampered", f"{wheel.name} changed since the release was verified")
            target = folder / wheel.name
            write_atomic(target, data, mode=0o644, durable=False)  # the install is synced as a whole
            written.append(target)
    return written


def _check_signature(signature: Any, manifest_bytes: bytes, root_public: Ed25519PublicKey,
                     revoked: frozenset[str], now_ms: int | None) -> str:
    if not isinstance(signature, dict) or set(signature) != {"cert", "sig"}:
        raise ReleaseRefused("malformed", f"{SIGNATURE} must hold cert and sig")
    cert = signature["cert"]
    try:
        public = check_certificate(cert, root_public, PURPOSE_RELEASE,
                                   int(time.time() * 1000) if now_ms is None else now_ms)
        valid = verify_raw(public, b64decode(signature["sig"]), RELEASE_DOMAIN + manifest_bytes)
    except CertificateError as exc:
        raise ReleaseRefused("bad_certificate", f"the key is not certified for releases: {exc}") from None
    except ValueError as exc:
        raise ReleaseRefused("malformed", f"the release's signature is malformed: {exc}") from None
    if cert["kid"] in revoked:
        raise ReleaseRefused("key_revoked", f"the release key {cert['kid']} is revoked")
    if not valid:
        raise ReleaseRefused("bad_signature", "the manifest does not match its signature")
    return str(cert["kid"])


def _manifest(data: bytes) -> Manifest:
    try:
        return Manifest.model_validate_json(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ReleaseRefused("malformed", f"{MANIFEST}: {where}: {error['msg']}") from None


def _check_wheels(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], manifest: Manifest) -> None:
    named = {wheel.name for wheel in manifest.wheels}
    if len(named) != len(manifest.wheels):
        raise ReleaseRefused("malformed", f"{MANIFEST} names a wheel twice")
    extra = set(members) - named - {MANIFEST, SIGNATURE}
    if extra:
        raise ReleaseRefused("tampered", f"files the manifest does not name: {', '.join(sorted(extra))}")
    if not any(wheel.name.startswith(f"{PACKAGE}-{manifest.version}-") for wheel in manifest.wheels):
        raise ReleaseRefused("malformed", f"no {PACKAGE} wheel of version {manifest.version}")
    for wheel in manifest.wheels:
        if wheel.name not in members:
            raise ReleaseRefused("tampered", f"{wheel.name} is missing")
        if members[wheel.name].size != wheel.size:
            raise ReleaseRefused("tampered", f"{wheel.name} is not the size the manifest says")
        source = tar.extractfile(members[wheel.name])
        assert source is not None  # a plain file
        if _stream_sha256(source) != wheel.sha256:
            raise ReleaseRefused("tampered", f"{wheel.name} is not the file that was signed")


def _plain_members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    members: dict[str, tarfile.TarInfo] = {}
    for count, member in enumerate(tar, start=1):
        if count > MAX_WHEELS + 2:
            raise ReleaseRefused("malformed", "too many files in the release")
        name = member.name
        if not member.isreg() or "/" in name or name.startswith(".") or name in members:
            raise ReleaseRefused("malformed", f"{name!r} is not a plain file at the release's top level")
        members[name] = member
    return members


def _read_member(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str, limit: int) -> bytes:
    member = members.get(name)
    if member is None:
        raise ReleaseRefused("malformed", f"{name} is missing")
    if member.size > limit:
        raise ReleaseRefused("malformed", f"{name} is larger than {limit} bytes")
    source = tar.extractfile(member)
    assert source is not None
    return source.read()


def _json(data: bytes, name: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise ReleaseRefused("malformed", f"{name} is not JSON") from None


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _file_sha256(path: Path) -> str:
    with path.open("rb") as source:
        return _stream_sha256(source)


def _stream_sha256(source: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while block := source.read(1 << 20):
        digest.update(block)
    return digest.hexdigest()
