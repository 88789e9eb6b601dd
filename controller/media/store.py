"""Media on disk, named by SHA-256 of their content, and the temporary files made beside them.

Work in progress (an upload being received and transcoded, speech being synthesised, a file
being stored) lives in the same folder under a temporary name that starts with its kind and the
controller instance's id: `.incoming-ctl-1.k3j9x_2a`. A controller that is killed leaves these
behind; at its next start it removes its own (a process that has just started uses none) and
those of any instance that are older than LEFTOVER_AGE_S, since several controllers may share one
media folder and another one's file may be in use (a job's record lasts a day; none runs that
long). Stored files, named
by their hash, are never touched. Spoken previews live in the `previews` subfolder (previews.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from loalang_protocol.files import move_into_place, write_atomic

from .previews import Previews

log = logging.getLogger(__name__)

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1024 * 1024
TEMPORARY_KINDS = (".incoming-", ".upload-", ".put-", "speech-")
LEFTOVER_AGE_S = 24 * 3600


def preview_url(sha256: str) -> str:
    """Where the console plays a stored file (GET /api/v1/media/{sha256}/preview)."""
    return f"/api/v1/media/{sha256}/preview"


class MediaStore:
    """A folder of immutable files named by their hash."""

    def __init__(self, folder: Path, instance_id: str) -> None:
        self.folder = folder
        self._mine = f"{instance_id}."  # instance ids are slugs: no '.' in them
        folder.mkdir(parents=True, exist_ok=True)
        self.previews = Previews(folder)

    def temporary_file(self, kind: str) -> tuple[int, Path]:
        """A new temporary file of kind (one of TEMPORARY_KINDS) in the folder: its descriptor and path."""
        fd, name = tempfile.mkstemp(dir=self.folder, prefix=self._prefix(kind))
        return fd, Path(name)

    def temporary_folder(self, kind: str) -> Path:
        """A new temporary folder of kind (one of TEMPORARY_KINDS) in the folder."""
        return Path(tempfile.mkdtemp(dir=self.folder, prefix=self._prefix(kind)))

    def remove_leftovers(self) -> int:
        """Remove this instance's temporary files and other instances' stale ones; returns how many."""
        removed = 0
        for entry in self.folder.iterdir():
            kind = next((k for k in TEMPORARY_KINDS if entry.name.startswith(k)), None)
            if kind is None or not (entry.name.startswith(kind + self._mine) or _stale(entry)):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
        if removed:
            log.info("media: removed %s temporary files left by an earlier run in %s", removed, self.folder)
        return removed

    def _prefix(self, kind: str) -> str:
        if kind not in TEMPORARY_KINDS:
            raise ValueError(f"not a kind of temporary file: {kind!r}")
        return kind + self._mine

    def path(self, sha256: str) -> Path | None:
        """The stored file for a hash, or None."""
        if not SHA256_RE.match(sha256):
            return None
        path = self.folder / sha256
        return path if path.is_file() else None

    def put(self, source: BinaryIO, max_bytes: int) -> tuple[str, int]:
        """Store a stream; returns its hash and size. Raises ValueError when over max_bytes."""
        digest, size = hashlib.sha256(), 0
        fd, tmp_path = self.temporary_file(".upload-")
        tmp_name = str(tmp_path)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise ValueError(f"file is over {max_bytes // 1_000_000} MB")
                    digest.update(chunk)
                    out.write(chunk)
            sha = digest.hexdigest()
            move_into_place(tmp_path, self.folder / sha)
            return sha, size
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)

    def put_bytes(self, data: bytes) -> str:
        """Store bytes; returns the hash."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.folder / sha
        if not target.exists():
            write_atomic(target, data)
        return sha


def _stale(entry: Path) -> bool:
    try:
        return time.time() - entry.lstat().st_mtime > LEFTOVER_AGE_S
    except OSError:
        return False
