"""Bulletins: drafted, approved where the area asks for it, then scheduled or broadcast.

A bulletin names a library file, or text that is being spoken into one (it is `preparing` until
the speech job is done), or a station to relay for a window of a given length (a national
station's programme in the hours a commune allows it, usually at level background). Submitting
it makes it `approved` at once where the area needs no approval, else `pending` until an approver
(never its author) approves or rejects it.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.orm import Session

from .. import audit
from ..db.models import Bulletin, MediaItem, utcnow
from ..db.session import Database
from ..errors import DomainError
from ..fleet.areas import effective

LEVELS = ("background", "normal", "priority", "emergency")
SPEECH_JOB = "bulletin.speech"  # the kind of a bulletin's speech job; the job's subject is the bulletin
SPEECH_INTERRUPTED = "the controller stopped while the text was being spoken; draft the bulletin again"


class BulletinError(DomainError):
    """A bulletin or schedule cannot do what was asked; code and message say why."""


def new_id() -> str:
    """A unique bulletin id (a slug)."""
    return "b-" + secrets.token_hex(8)


def create(session: Session, actor: str, fields: dict[str, Any]) -> Bulletin:
    """A new draft; with text instead of a file it waits for its speech job (job_id in fields)."""
    sha = fields.get("media_sha256")
    item = session.get(MediaItem, sha) if sha is not None else None
    if sha is not None and item is None:
        raise BulletinError("unknown_media", "no such media in the library", 422, "media_sha256")
    text = item.text if item is not None else fields.get("text")  # a spoken file's text, for approvers
    relay_url = fields.get("relay_url")
    bulletin = Bulletin(id=new_id(), title=fields["title"], level=fields["level"], media_sha256=sha,
                        relay_url=relay_url, duration_ms=fields.get("duration_ms") if relay_url else None,
                        text=text, job_id=fields.get("job_id"), area_id=fields["area_id"],
                        status="draft" if sha or relay_url else "preparing", created_by=actor)
    session.add(bulletin)
    audit.record(session, actor, "bulletin.create", [bulletin.id], title=bulletin.title, level=bulletin.level,
                 area=bulletin.area_id)
    return bulletin


def media_ready(session: Session, bulletin_id: str, sha: str | None, error: str | None) -> None:
    """The speech job of a bulletin ended: it becomes a draft with its file, or failed."""
    bulletin = session.get(Bulletin, bulletin_id)
    if bulletin is None or bulletin.status != "preparing":
        return
    if sha is None:
        bulletin.status, bulletin.note = "failed", (error or "speech failed")[:500]
    else:
        bulletin.status, bulletin.media_sha256 = "draft", sha


def speech_interrupted(db: Database, bulletin_id: str) -> None:
    """The speech job of a bulletin was cut off by its controller's end: the bulletin has failed."""
    with db.session() as session:
        media_ready(session, bulletin_id, None, SPEECH_INTERRUPTED)


def approval_required(session: Session, area_id: str) -> bool:
    """Whether the area (or the nearest above it that says) requires approval."""
    return effective(session, area_id, "approval") == "required"


def submit(session: Session, actor: str, bulletin: Bulletin) -> Bulletin:
    """Ask for approval, or approve at once where the area needs none."""
    if bulletin.status not in ("draft", "rejected"):
        raise BulletinError("bulletin_wrong_state", f"a {bulletin.status} bulletin cannot be submitted")
    if approval_required(session, bulletin.area_id):
        bulletin.status = "pending"
    else:
        bulletin.status, bulletin.decided_by, bulletin.decided_at = "approved", actor, utcnow()
        bulletin.reviewed = False  # approved without review: not for a target area that asks for one
    audit.record(session, actor, "bulletin.submit", [bulletin.id], status=bulletin.status)
    return bulletin


def decide(session: Session, actor: str, bulletin: Bulletin, approve: bool, note: str = "") -> Bulletin:
    """An approver approves or rejects a pending bulletin (not one of their own)."""
    if bulletin.status != "pending":
        verb = "approved" if approve else "rejected"
        raise BulletinError("bulletin_wrong_state", f"a {bulletin.status} bulletin cannot be {verb}")
    if bulletin.created_by == actor:
        raise BulletinError("own_bulletin", "an approver cannot approve their own bulletin", 403)
    bulletin.status = "approved" if approve else "rejected"
    bulletin.reviewed = approve
    bulletin.decided_by, bulletin.decided_at, bulletin.note = actor, utcnow(), note[:500]
    audit.record(session, actor, "bulletin.approve" if approve else "bulletin.reject", [bulletin.id],
                 note=note[:200])
    return bulletin


def play_length_ms(session: Session, bulletin: Bulletin) -> int:
    """How long one play lasts, when the bulletin may be scheduled (approved, with its file or station)."""
    if bulletin.status != "approved":
        raise BulletinError("bulletin_not_approved",
                            f"only an approved bulletin can be scheduled; this one is {bulletin.status}")
    if bulletin.relay_url and bulletin.duration_ms:
        return bulletin.duration_ms
    item = session.get(MediaItem, bulletin.media_sha256) if bulletin.media_sha256 else None
    if item is None:
        raise BulletinError("bulletin_not_playable", "the bulletin has no file")
    return item.duration_ms
