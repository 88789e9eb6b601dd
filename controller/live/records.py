"""A live broadcast's record in the library: what its encoder put on the air, as an Ogg Opus file.

Every live broadcast is recorded, microphone or relay, started by hand or by a schedule, except a
scheduled relay at level background: a station's programme carried for hours a day under the
commune's own announcements (the station keeps its own record; ninety days of two hours a day
would be 2.6 GB per commune for nothing the commune said).

The session writes every chunk it encodes into a temporary file of the media folder as it goes
(published or not: the record is what was said, a broker outage included), packet for packet
(recording.py). When the session ends the file is stored by its hash like any library item, kind
`recording`, owned by the broadcast's first target area; the broadcast names it
(`recording_sha256`) and an audit entry says so. The scheduler's leader deletes recordings older
than `live_recording_keep_days` with the rest of its pruning, unless something still uses one (a
bulletin made of it). A controller killed mid-broadcast leaves its temporary file, removed with its
other leftovers at its next start: that broadcast keeps its air log, not its recording.
"""

from __future__ import annotations

import logging
import os
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select

from loalang_protocol.chunks import AudioChunk, Codec

from .. import audit
from ..context import Services
from ..db.models import Broadcast, MediaItem, utcnow
from ..errors import DomainError
from ..media import removal
from .recording import OggOpusWriter

log = logging.getLogger(__name__)

KIND = "recording"
MAX_RECORD_BYTES = 1 << 34  # twelve hours at 32 kbit/s is 173 MB; the store's own bound, far above


class LiveRecord:
    """The recording of one live session while it is on the air."""

    def __init__(self, services: Services, broadcast_id: str, title: str) -> None:
        self.services = services
        self.broadcast_id = broadcast_id
        fd, self.path = services.media.temporary_file(".incoming-")
        self._file = os.fdopen(fd, "wb")
        self.writer = OggOpusWriter(self._file, serial=secrets.randbits(32), title=title)
        self.failed = False

    def add(self, chunk: AudioChunk) -> None:
        """A chunk's Opus packets; a write that fails ends the recording, never the broadcast."""
        if self.failed or chunk.codec is not Codec.OPUS:
            return
        try:
            for packet in chunk.frames:
                self.writer.write(packet)
        except (OSError, ValueError) as exc:
            self.failed = True
            log.error("live %s: recording stopped (%s); the broadcast goes on", self.broadcast_id, exc)

    def keep(self) -> str | None:
        """Close the file, store it in the library and link it from the broadcast; its hash, or None
        when there was nothing to keep (the temporary file is removed either way)."""
        try:
            if not self.failed:
                self.writer.close()
            self._file.close()
            if self.failed or self.writer.duration_s <= 0:
                return None
            with self.path.open("rb") as stream:
                sha, size = self.services.media.put(stream, max_bytes=MAX_RECORD_BYTES)
            self._note(sha, size)
            return sha
        finally:
            self.path.unlink(missing_ok=True)

    def discard(self) -> None:
        """Drop it (the session never went on the air)."""
        self._file.close()
        self.path.unlink(missing_ok=True)

    def _note(self, sha: str, size: int) -> None:
        with self.services.db.session() as session:
            broadcast = session.get(Broadcast, self.broadcast_id)
            if broadcast is None:
                return
            if session.get(MediaItem, sha) is None:
                session.add(MediaItem(
                    sha256=sha, title=f"Ghi âm: {broadcast.title}"[:200], kind=KIND,
                    duration_ms=round(self.writer.duration_s * 1000), size=size,
                    area_id=broadcast.area_ids[0] if broadcast.area_ids else None,
                    created_by=broadcast.created_by))
            broadcast.recording_sha256 = sha
            audit.record(session, "system", "broadcast.recorded", [self.broadcast_id, sha],
                         duration_ms=round(self.writer.duration_s * 1000), size=size)


def expire(services: Services, now: datetime | None = None) -> list[str]:
    """Delete the recordings older than the setting's days that nothing uses; returns their hashes."""
    before = (now or utcnow()) - timedelta(days=services.settings.live_recording_keep_days)
    with services.db.session() as session:
        old = list(session.scalars(select(MediaItem.sha256).where(MediaItem.kind == KIND,
                                                                   MediaItem.created_at < before)))
    deleted = []
    for sha in old:
        try:
            removal.remove(services, "system", sha)
        except DomainError as exc:  # in use (a bulletin made of it), or deleted by someone meanwhile
            log.info("recording %s kept: %s", sha, exc)
            continue
        deleted.append(sha)
    if deleted:
        log.info("%d live recordings older than %d days deleted", len(deleted),
                 services.settings.live_recording_keep_days)
    return deleted
