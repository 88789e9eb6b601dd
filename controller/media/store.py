"""Media on disk, named by SHA-256 of their content."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1024 * 1024


class MediaStore:
    """A folder of immutable files named by their hash."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path | None:
        """The stored file for a hash, or None."""
        if not SHA256_RE.match(sha256):
            return None
        path = self.folder / sha256
        return path if path.is_file() else None

    def put(self, source: BinaryIO, max_bytes: int) -> tuple[str, int]:
        """Store a stream; returns its hash and size. Raises ValueError when over max_bytes."""
        digest, size = hashlib.sha256(), 0
        fd, tmp_name = tempfile.mkstemp(dir=self.folder, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise ValueError(f"file is over {max_bytes // 1_000_000} MB")
                    digest.update(chunk)
                    out.write(chunk)
            sha = digest.hexdigest()
            os.replace(tmp_name, self.folder / sha)
            return sha, size
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)

    def put_bytes(self, data: bytes) -> str:
        """Store bytes; returns the hash."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.folder / sha
        if not target.exists():
            tmp = self.folder / f".put-{sha}"
            tmp.write_bytes(data)
            tmp.replace(target)
        return sha
