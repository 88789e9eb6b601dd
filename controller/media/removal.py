"""Deleting an item of the library: refused while anything still plays or names it.

A file is in use while a bulletin names it (whatever its state: a bulletin can be scheduled
again), while a broadcast that names it waits for confirmation or is on the air, and while an
occurrence that plays it has not ended (a device may not have fetched it yet). Finished
broadcasts keep their title and report; only their link to the file (or to their recording) is
cleared. The row, the
file on disk and an audit entry go together.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import audit
from ..context import Services
from ..db.models import Broadcast, Bulletin, MediaItem, Occurrence
from ..errors import DomainError

log = logging.getLogger(__name__)

LIVE_BROADCASTS = ("awaiting_confirmation", "on_air")
SHOWN_USES = 5  # the refusal names this many users of the file at most


def in_use(message: str) -> DomainError:
    """The refusal of a file that something still uses."""
    return DomainError("media_in_use", message, 409)


def uses(session: Session, sha256: str, now_ms: int) -> list[str]:
    """What still uses the file: bulletin, broadcast and occurrence ids (empty when nothing does)."""
    bulletins = session.scalars(select(Bulletin.id).where(Bulletin.media_sha256 == sha256)).all()
    broadcasts = session.scalars(select(Broadcast.id).where(
        Broadcast.media_sha256 == sha256, Broadcast.status.in_(LIVE_BROADCASTS))).all()
    return [*bulletins, *broadcasts, *_future_occurrences(session, sha256, now_ms)]


def _future_occurrences(session: Session, sha256: str, now_ms: int) -> list[str]:
    rows = session.execute(select(Occurrence.id, Occurrence.source).where(
        Occurrence.start_ms + Occurrence.duration_ms + Occurrence.max_lateness_ms > now_ms))
    return [occurrence_id for occurrence_id, source in rows
            if isinstance(source, dict) and source.get("sha256") == sha256]


def remove(services: Services, actor: str, sha256: str) -> None:
    """Delete the item, its file and record it; raises DomainError `media_in_use` while it is used."""
    try:
        with services.db.session() as session:
            _remove_row(session, actor, sha256)
    except IntegrityError:  # a bulletin or broadcast named it in the meantime
        raise in_use("the file was just put to use; it cannot be deleted") from None
    path = services.media.path(sha256)
    if path is not None:
        path.unlink(missing_ok=True)
    log.info("media: %s deleted by %s", sha256, actor)


def _remove_row(session: Session, actor: str, sha256: str) -> None:
    item = session.get(MediaItem, sha256)
    if item is None:
        raise DomainError("unknown_media", "no such media in the library", 404)
    users = uses(session, sha256, int(time.time() * 1000))
    if users:
        shown = ", ".join(users[:SHOWN_USES]) + (f" and {len(users) - SHOWN_USES} more"
                                                 if len(users) > SHOWN_USES else "")
        raise in_use(f"the file is still used by {shown}")
    session.execute(update(Broadcast).where(Broadcast.media_sha256 == sha256).values(media_sha256=None))
    session.execute(update(Broadcast).where(Broadcast.recording_sha256 == sha256)
                    .values(recording_sha256=None))
    audit.record(session, actor, "media.delete", [sha256], title=item.title, area=item.area_id)
    session.delete(item)
    session.flush()
