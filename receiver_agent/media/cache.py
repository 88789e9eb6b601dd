"""The media cache: files downloaded ahead of time by SHA-256, resumed, verified and evicted LRU.

Files live in ``cache/<sha256>``; a download in progress is ``cache/<sha256>.part`` and resumes
with an HTTP Range request. A file whose hash does not match is deleted and reported; the next
attempt waits longer (exponential backoff). Eviction never touches what the schedule needs
inside its horizon, nor the attention signal.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from loalang_protocol.files import move_into_place
from loalang_protocol.http_auth import sign_request
from loalang_protocol.keys import KeyPair

from .. import controller_http

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
FIRST_RETRY_S = 5.0
MAX_RETRY_S = 3600.0


class DownloadError(RuntimeError):
    """A download failed; reason is a short code for the receipt (http_404, hash_mismatch...)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass
class _Retry:
    attempts: int = 0
    not_before: float = 0.0


@dataclass
class MediaCache:
    """Downloads and keeps media files for one device."""

    folder: Path
    controller_url: str
    device_id: str
    key: KeyPair
    quota_bytes: int = 2_000_000_000
    clock: Callable[[], float] = time.monotonic
    controller_ca_file: Path | None = None  # a province's own CA for the controller's HTTPS
    url_prefix: str = "/media"  # where the controller serves these files ("/releases" for releases)
    _retries: dict[str, _Retry] = field(default_factory=dict)
    downloaded_bytes: int = 0

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        """Where the file lives once complete."""
        return self.folder / sha256

    def has(self, sha256: str) -> bool:
        """True when the verified file is in the cache (and marks it used)."""
        path = self.path(sha256)
        if path.is_file():
            os.utime(path)  # the LRU order is the modification time
            return True
        return False

    def may_try(self, sha256: str) -> bool:
        """False while a failed download waits for its next attempt."""
        retry = self._retries.get(sha256)
        return retry is None or self.clock() >= retry.not_before

    def fetch(self, sha256: str, size: int, keep: set[str]) -> Path:
        """Download (or resume) one file, verify it, make room for it; blocking."""
        if self.has(sha256):
            return self.path(sha256)
        self.make_room(size, keep | {sha256})
        try:
            self._download(sha256, size)
            self._verify(sha256)
        except DownloadError as exc:
            retry = self._retries.setdefault(sha256, _Retry())
            retry.attempts += 1
            doublings = min(retry.attempts - 1, 20)  # the wait reaches its cap long before; no overflow
            retry.not_before = self.clock() + min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** doublings)
            log.warning("media %s: %s (attempt %s)", sha256[:12], exc, retry.attempts)
            raise
        self._retries.pop(sha256, None)
        return self.path(sha256)

    def _download(self, sha256: str, size: int) -> None:
        """Bring the part up to size bytes. A part already whole (the power went between its last
        byte and its rename) is left for the hash check: asking for the bytes after its end would
        be answered 416 on every attempt."""
        part = self.folder / f"{sha256}.part"
        have = part.stat().st_size if part.exists() else 0
        if have > size:
            part.unlink()
            have = 0
        if have and have == size:
            return
        try:
            self._request(sha256, part, have, size)
        except DownloadError as exc:
            if exc.reason != "http_416" or not have:
                raise
            part.unlink()  # the controller's file is shorter than the part: start again
            self._request(sha256, part, 0, size)

    def _request(self, sha256: str, part: Path, have: int, size: int) -> None:
        url_path = f"{self.url_prefix}/{sha256}"
        headers = sign_request(self.key, self.device_id, "GET", url_path)
        if have:
            headers["Range"] = f"bytes={have}-"
        request = urllib.request.Request(self.controller_url.rstrip("/") + url_path, headers=headers)  # noqa: S310
        try:
            with controller_http.open_url(request, 30, self.controller_ca_file) as response:
                resumed = response.status == 206
                with part.open("ab" if resumed else "wb") as out:
                    written = have if resumed else 0
                    while chunk := response.read1(CHUNK):  # what has arrived: a cut link keeps it
                        written += len(chunk)
                        if written > size:
                            raise DownloadError("too_large", f"more than the announced {size} bytes")
                        out.write(chunk)
                        self.downloaded_bytes += len(chunk)
        except urllib.error.HTTPError as exc:
            raise DownloadError(f"http_{exc.code}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise DownloadError("network", str(getattr(exc, "reason", exc))[:200]) from None

    def _verify(self, sha256: str) -> None:
        part = self.folder / f"{sha256}.part"
        digest = hashlib.sha256()
        with part.open("rb") as source:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            part.unlink()
            raise DownloadError("hash_mismatch", f"got {digest.hexdigest()[:12]}")
        move_into_place(part, self.path(sha256))

    def used_bytes(self) -> int:
        """Bytes the cache holds, partial downloads included."""
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())

    def make_room(self, incoming: int, keep: set[str]) -> None:
        """Evict least-recently-used files not in keep until incoming fits in the quota."""
        files = sorted((p for p in self.folder.iterdir() if p.is_file() and p.name[:64] not in keep),
                       key=lambda p: p.stat().st_mtime)
        used = self.used_bytes()
        for victim in files:
            if used + incoming <= self.quota_bytes:
                break
            used -= victim.stat().st_size
            victim.unlink()
            log.info("media %s evicted (least recently used)", victim.name[:12])
        if used + incoming > self.quota_bytes:
            raise DownloadError("quota", f"{incoming} bytes do not fit next to what the schedule needs")
