"""Media: operators upload files; enrolled devices download them by hash (with Range)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, HTTPException, Request, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel

from .. import audit
from ..security.device_auth import authenticated_device
from ..security.roles import Permission
from .deps import Principal, ServicesDep, require

router = APIRouter(tags=["media"])
MAX_UPLOAD_BYTES = 200 * 1000 * 1000


class MediaStored(BaseModel):
    """A stored file."""

    sha256: str
    size: int


@router.post("/api/v1/media", response_model=MediaStored, status_code=201, summary="Upload a media file")
async def upload(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require(Permission.CONFIGURE_DEVICES))],
    file: Annotated[UploadFile, File(description="an audio file")],
) -> MediaStored:
    """Store a file by its SHA-256 (transcoding and checks come with the media library)."""
    try:
        sha, size = services.media.put(file.file, MAX_UPLOAD_BYTES)
    except ValueError as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from None
    with services.db.session() as session:
        audit.record(session, principal.username, "media.upload", [sha], size=size, name=file.filename or "")
    return MediaStored(sha256=sha, size=size)


@router.get("/media/{sha256}", summary="Download media (enrolled devices only)", response_class=FileResponse)
async def download(sha256: str, request: Request, services: ServicesDep) -> FileResponse:
    """Serve a stored file to a device that signs its request with its enrolled key; Range supported."""
    authenticated_device(request, services)
    path = services.media.path(sha256)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such media")
    return FileResponse(path, media_type="application/octet-stream")
