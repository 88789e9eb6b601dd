"""Spoken previews: text heard before anything is kept, never an item of the library.

A preview is an Opus file in the media folder's `previews` subfolder, named by the hash of its
owner's user name and a random token: only its owner finds it (another user's name leads to
another file), and the token cannot be guessed. It is removed LIFETIME_S after it was made, by the
sweep that runs before each new preview and when a controller starts; until then it is served to
its owner only. Several controllers sharing one media folder share the previews too.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from pathlib import Path

log = logging.getLogger(__name__)

LIFETIME_S = 600
TOKEN = re.compile(r"^[0-9a-f]{32}$")


class Previews:
    """The folder of spoken previews."""

    def __init__(self, media_folder: Path, lifetime_s: float = LIFETIME_S) -> None:
        self.folder = media_folder / "previews"
        self.lifetime_s = lifetime_s

    def new(self, owner: str) -> tuple[str, Path]:
        """A token and the path where the owner's new preview is to be written."""
        self.folder.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(16)
        return token, self._path(owner, token)

    def find(self, owner: str, token: str) -> Path | None:
        """The owner's preview of token while it lasts, else None."""
        if not TOKEN.match(token):
            return None
        path = self._path(owner, token)
        try:
            fresh = time.time() - path.stat().st_mtime < self.lifetime_s
        except OSError:
            return None
        return path if fresh else None

    def sweep(self) -> int:
        """Remove the previews (and unfinished ones) older than their lifetime; returns how many."""
        removed = 0
        for entry in self.folder.glob("*") if self.folder.is_dir() else ():
            try:
                if time.time() - entry.lstat().st_mtime >= self.lifetime_s:
                    entry.unlink()
                    removed += 1
            except OSError:
                continue
        if removed:
            log.info("media: %s spoken previews expired", removed)
        return removed

    def _path(self, owner: str, token: str) -> Path:
        return self.folder / f"{hashlib.sha256(owner.encode()).hexdigest()[:16]}-{token}.opus"
