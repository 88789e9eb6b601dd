"""The agent releases the controller holds: each verified when added, kept under its SHA-256.

A release is added from a file (the API's upload or `radio-controller releases add`); it is verified
against this controller's root key and the root-signed revocation list before anything is kept, so a
release signed by a control key, by a key no root certified, or changed after signing is refused, and
the refusal is audited (`release.refused`) as well as answered. A version is added once: the same file
again is no news, another file under a known version is refused.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from loalang_protocol.files import move_into_place
from loalang_protocol.keys import public_from_text
from loalang_protocol.releases import ReleaseRefused, VerifiedRelease, verify

from .. import audit
from ..db.models import AgentRelease
from ..db.session import Database
from ..errors import DomainError
from ..keyring import KEYS_DIR, ROOT_PUBLIC, read_revocations

log = logging.getLogger(__name__)

FOLDER = "releases"  # inside the controller's data folder


def shelf_in(data_dir: Path, db: Database) -> ReleaseShelf:
    """The shelf of the controller whose data folder is data_dir (its keys folder holds root.pub)."""
    keys = data_dir / KEYS_DIR
    return ReleaseShelf(db, data_dir / FOLDER, keys, (keys / ROOT_PUBLIC).read_text().strip())


@dataclass(frozen=True)
class ReleaseShelf:
    """Where releases are kept and what they are checked against."""

    db: Database
    folder: Path  # the release files, named <sha256>.release
    keys_folder: Path  # root.pub and revoked.json
    root_public: str

    def path(self, sha256: str) -> Path | None:
        """The file of a stored release, when there is one."""
        path = self.folder / f"{sha256}.release"
        return path if len(sha256) == 64 and path.is_file() else None

    def add(self, upload: Path, actor: str) -> tuple[AgentRelease, bool]:
        """Verify and keep the release at upload (moved into the folder, or removed); returns it and
        whether it is new."""
        try:
            release = self._verified(upload, actor)
            return self._keep(upload, release, actor)
        finally:
            upload.unlink(missing_ok=True)

    def releases(self) -> list[AgentRelease]:
        """Every release held, newest added first."""
        with self.db.session() as session:
            return list(session.scalars(select(AgentRelease).order_by(AgentRelease.added_at.desc())))

    def release(self, version: str) -> AgentRelease:
        """One release by version (404 `unknown_release`)."""
        with self.db.session() as session:
            found = session.get(AgentRelease, version)
        if found is None:
            raise DomainError("unknown_release", f"no release {version!r}", 404)
        return found

    def _verified(self, upload: Path, actor: str) -> VerifiedRelease:
        held = read_revocations(self.keys_folder, self.root_public)
        try:
            return verify(upload, public_from_text(self.root_public), held.revoked if held else frozenset())
        except ReleaseRefused as exc:
            log.warning("release refused (%s): %s", exc.reason, exc.detail)
            with self.db.session() as session:
                audit.record(session, actor, "release.refused", [], reason=exc.reason,
                             detail=exc.detail[:300])
            raise _domain_error(exc) from None

    def _keep(self, upload: Path, verified: VerifiedRelease, actor: str) -> tuple[AgentRelease, bool]:
        manifest = verified.manifest
        with self.db.session() as session:
            known = session.get(AgentRelease, manifest.version)
            if known is not None:
                if known.sha256 != verified.sha256:
                    raise DomainError("release_version_exists",
                                      f"another release of version {manifest.version} is held", 409, "file")
                return known, False
            self.folder.mkdir(parents=True, exist_ok=True)
            move_into_place(upload, self.folder / f"{verified.sha256}.release")
            row = AgentRelease(version=manifest.version, sha256=verified.sha256, size=verified.size,
                               notes=manifest.notes, signed_by=verified.signed_by, built_ms=manifest.built_ms,
                               added_by=actor)
            session.add(row)
            audit.record(session, actor, "release.add", [manifest.version], sha256=verified.sha256,
                         signed_by=verified.signed_by)
        log.info("release %s added (%s, signed by %s)", manifest.version, verified.sha256[:12],
                 verified.signed_by)
        return row, True

    def temporary_file(self) -> tuple[int, Path]:
        """A new file beside the releases, for an upload on its way in."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.folder, prefix=".incoming-")
        return fd, Path(name)

def _domain_error(exc: ReleaseRefused) -> DomainError:
    """The API's answer to a refused release: a stable code per reason."""
    if exc.reason == "bad_certificate":
        return DomainError("release_not_certified", exc.detail, 422, "file")
    if exc.reason == "key_revoked":
        return DomainError("release_key_revoked", exc.detail, 422, "file")
    if exc.reason == "bad_signature":
        return DomainError("release_bad_signature", exc.detail, 422, "file")
    if exc.reason == "tampered":
        return DomainError("release_tampered", exc.detail, 422, "file")
    if exc.reason == "too_large":
        return DomainError("release_too_large", exc.detail, 413, "file")
    return DomainError("release_malformed", exc.detail, 422, "file")
