"""The media library: operators upload audio or have text spoken; devices download by hash.

Uploads and speech are jobs: the call answers 202 with the job's id at once, and
`GET /api/v1/jobs/{id}` follows its progress to the stored item (or the reason it was refused).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from ..context import Services
from ..db.models import MediaItem
from ..errors import DomainError
from ..fleet.areas import chain, parent_map
from ..media import library, removal, speech
from ..media.library import Ingest
from ..security.device_auth import authenticated_device
from ..security.roles import Permission
from .deps import Principal, PrincipalDep, ServicesDep, ViewerDep, ensure_in_scope, require
from .schemas import Name, SlugField, SpokenText, _In

router = APIRouter(tags=["media"])
Editor = Annotated[Principal, Depends(require(Permission.MANAGE_MEDIA))]
CHUNK = 1 << 20


class JobStarted(BaseModel):
    """A background job was started; follow it at status_url."""

    job_id: str
    status_url: str


class JobPublic(BaseModel):
    """A job's state: queued, running, done (with result) or failed (with error)."""

    id: str
    kind: str
    state: str
    progress: float = Field(description="0 to 1")
    result: dict[str, Any] | None = None
    error: str | None = None
    error_code: str | None = Field(None, description="a stable code for some errors: `job_interrupted` when "
                                   "the controller running the job stopped (send the file or text again)")


class MediaPublic(BaseModel):
    """An item of the library."""

    sha256: str
    title: str
    kind: str = Field(description="upload, speech, or recording (a live broadcast's, kept by the controller)")
    original_name: str
    text: str | None
    duration_ms: int
    size: int
    loudness_lufs: float | None = Field(description="loudness of the original (the stored file: -16 LUFS)")
    area_id: str | None
    created_by: str
    created_at: str | None
    preview_url: str


class SpeechRequest(_In):
    """Text to be spoken by the text-to-speech engine (Vietnamese by default)."""

    text: SpokenText = Field(
        examples=["Thông báo: chiều nay 14 giờ họp thôn tại nhà văn hóa."])
    title: Name = Field(examples=["Thông báo họp thôn"])
    area_id: SlugField | None = Field(None, description="owner area (default: your own)")


class PreviewRequest(_In):
    """Text to hear before anything is kept."""

    text: SpokenText = Field(
        examples=["Thông báo: chiều nay 14 giờ họp thôn tại nhà văn hóa."],
        description=f"at most {speech.MAX_TEXT_CHARS} characters once spaces are folded (`text_too_long`)")


@router.post("/api/v1/media", response_model=JobStarted, status_code=202, summary="Upload audio")
async def upload(
    services: ServicesDep,
    principal: Editor,
    file: Annotated[UploadFile, File(description="WAV, MP3, OGG, FLAC, M4A/MP4, WebM/MKA, AAC, AIFF or AMR "
                                                 "audio (others: `audio_format_not_accepted`)")],
    title: Annotated[str | None, Form(max_length=200)] = None,
    area_id: Annotated[str | None, Form(max_length=48)] = None,
) -> JobStarted:
    """Check the file at once (a 422 names what is wrong), then normalise and encode it in a job.

    The stored file is Opus, mono, 48 kHz, at -16 LUFS; the job's result is the library item.
    """
    owner = _owner_area(principal, area_id)
    name = os.path.basename(file.filename or "upload")[:200]
    incoming, size = _receive(services, file.file)
    info = await library.check_upload(services, incoming, size)
    ingest = Ingest(title=(title or Path(name).stem or "upload").strip()[:200], kind="upload",
                    actor=principal.username, area_id=owner, original_name=name)

    async def job(progress: Any) -> dict[str, Any]:
        return await library.from_upload(services, incoming, info, ingest, progress)

    return await _started(services, "media.upload", principal, job)


@router.post("/api/v1/media/speech", response_model=JobStarted, status_code=202, summary="Speak text")
async def speak(body: SpeechRequest, services: ServicesDep, principal: Editor) -> JobStarted:
    """Synthesise the text (espeak-ng, voice vi, or Piper when configured), then store it like an upload.

    Text over the limit is refused (`text_too_long`), never cut."""
    text = speech.clean_text(body.text)
    ingest = Ingest(title=body.title, kind="speech", actor=principal.username,
                    area_id=_owner_area(principal, body.area_id), text=text)

    async def job(progress: Any) -> dict[str, Any]:
        return await library.from_text(services, services.speech, ingest, progress)

    return await _started(services, "media.speech", principal, job)


@router.post("/api/v1/speech-previews", response_model=JobStarted, status_code=202,
             summary="Hear text spoken, keeping nothing")
async def preview_speech(body: PreviewRequest, services: ServicesDep, principal: Editor) -> JobStarted:
    """Speak the text into a temporary file that only you can play, for ten minutes; the library is
    not changed. The job's result: `preview_url`, `duration_ms` and `expires_at`."""
    text = speech.clean_text(body.text)
    previews = services.media.previews
    previews.sweep()
    token, target = previews.new(principal.username)

    async def job(progress: Any) -> dict[str, Any]:
        duration_ms = await library.preview_text(services, services.speech, text, target, progress)
        expires = datetime.now(UTC) + timedelta(seconds=previews.lifetime_s)
        return {"preview_url": f"/api/v1/speech-previews/{token}", "duration_ms": duration_ms,
                "expires_at": expires.isoformat()}

    return await _started(services, "media.speech_preview", principal, job)


@router.get("/api/v1/speech-previews/{token}", summary="Listen to your spoken preview",
            response_class=FileResponse, responses={200: {"content": {"audio/ogg": {}}}})
async def spoken_preview(token: str, services: ServicesDep, principal: PrincipalDep) -> FileResponse:
    """A preview you made in the last ten minutes (Range supported); anyone else's is not found."""
    path = services.media.previews.find(principal.username, token[:64])
    if path is None:
        raise DomainError("preview_expired", "no such preview: it has expired or is not yours", 404)
    return FileResponse(path, media_type="audio/ogg")


@router.get("/api/v1/jobs/{job_id}", response_model=JobPublic, summary="Follow a background job")
async def get_job(job_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """A job you started (an admin of the whole tree sees every job)."""
    record = await services.jobs.get(job_id)
    if record is None or (record.get("owner") != principal.username and principal.scope is not None):
        raise DomainError("unknown_job", "no such job", 404)
    return record


@router.get("/api/v1/media", response_model=list[MediaPublic], summary="List the library")
async def list_media(services: ServicesDep, principal: ViewerDep) -> list[dict[str, Any]]:
    """Items of your areas, of the areas above yours, and shared ones; newest first."""
    with services.db.session() as session:
        items = session.scalars(select(MediaItem).order_by(MediaItem.created_at.desc())).all()
        usable = _usable_areas(services, principal)
        return [library.describe(item) for item in items if _visible(principal, usable, item.area_id)]


@router.get("/api/v1/media/{sha256}", response_model=MediaPublic, summary="One item of the library")
async def get_media(sha256: str, services: ServicesDep, principal: ViewerDep) -> dict[str, Any]:
    """An item you can use."""
    return library.describe(_usable_item(services, principal, sha256))


@router.get("/api/v1/media/{sha256}/preview", summary="Listen to an item", response_class=FileResponse,
            responses={200: {"content": {"audio/ogg": {}}}})
async def preview(sha256: str, services: ServicesDep, principal: ViewerDep) -> FileResponse:
    """The stored Opus file, for the console's player (Range supported)."""
    item = _usable_item(services, principal, sha256)
    path = services.media.path(item.sha256)
    if path is None:
        raise DomainError("media_file_missing", "the file is missing from the store", 404)
    return FileResponse(path, media_type="audio/ogg")


@router.delete("/api/v1/media/{sha256}", status_code=204, summary="Delete an item of the library")
async def delete_media(sha256: str, services: ServicesDep, principal: Editor) -> None:
    """An item of your subtree (a shared one: admins of the whole tree only), with its file.

    Refused with `media_in_use` while a bulletin names it, a broadcast plays it or waits for
    confirmation, or an occurrence that plays it has not ended."""
    item = _usable_item(services, principal, sha256)
    if not principal.can_see(item.area_id):
        raise DomainError("outside_scope", "the file belongs to an area above yours", 403)
    removal.remove(services, principal.username, item.sha256)


@router.get("/media/{sha256}", summary="Download media (enrolled devices only)", response_class=FileResponse)
async def download(sha256: str, request: Request, services: ServicesDep) -> FileResponse:
    """Serve a stored file to a device that signs its request with its enrolled key; Range supported."""
    authenticated_device(request, services)
    path = services.media.path(sha256)
    if path is None:
        raise DomainError("unknown_media", "no such media", 404)
    return FileResponse(path, media_type="application/octet-stream")


def _owner_area(principal: Principal, area_id: str | None) -> str | None:
    """The area an item will belong to: the one asked for (inside your scope) or your own."""
    if area_id is None:
        return principal.area_id
    ensure_in_scope(principal, area_id)
    return area_id


def _receive(services: Services, source: BinaryIO) -> tuple[Path, int]:
    """Copy the upload beside the store (413 over the limit); returns the copy and its size."""
    limit = services.settings.media_max_upload_mb * 1_000_000
    fd, path = services.media.temporary_file(".incoming-")
    size = 0
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(CHUNK):
            size += len(chunk)
            if size > limit:
                out.close()
                path.unlink()
                limit_mb = services.settings.media_max_upload_mb
                raise DomainError("file_too_large", f"the file is over {limit_mb} MB", 413, "file")
            out.write(chunk)
    return path, size


async def _started(services: Services, kind: str, principal: Principal, job: Any) -> JobStarted:
    job_id = await services.jobs.start(kind, principal.username, job)
    return JobStarted(job_id=job_id, status_url=f"/api/v1/jobs/{job_id}")


def _usable_areas(services: Services, principal: Principal) -> set[str] | None:
    """Areas whose items the caller may use: its subtree and the areas above it (None: all)."""
    if principal.scope is None:
        return None
    with services.db.session() as session:
        above = set(chain(parent_map(session), principal.area_id)) if principal.area_id else set()
    return principal.scope | above


def _visible(principal: Principal, usable: set[str] | None, area_id: str | None) -> bool:
    return usable is None or area_id is None or area_id in usable


def _usable_item(services: Services, principal: Principal, sha256: str) -> MediaItem:
    with services.db.session() as session:
        item = session.get(MediaItem, sha256[:64])
    if item is None:
        raise DomainError("unknown_media", "no such media", 404)
    if not _visible(principal, _usable_areas(services, principal), item.area_id):
        raise DomainError("outside_scope", "outside your area", 403)
    return item
