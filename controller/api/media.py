"""Media: operators upload files; enrolled devices download them by hash (with Range)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, HTTPException, Request, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel

from loalang_protocol.http_auth import SIGNATURE_HEADER, TIME_HEADER, verify_request
from loalang_protocol.keys import public_from_text

from .. import audit
from ..db.models import Device
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
    device_id = request.headers.get("x-loa-device", "")
    with services.db.session() as session:
        device = session.get(Device, device_id[:48]) if device_id else None
    denied = HTTPException(status.HTTP_403_FORBIDDEN, "only enrolled devices may download media")
    if device is None or not device.public_key:
        raise denied
    if not verify_request(public_from_text(device.public_key), "GET", request.url.path,
                          request.headers.get(TIME_HEADER, ""), request.headers.get(SIGNATURE_HEADER, "")):
        raise denied
    path = services.media.path(sha256)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such media")
    return FileResponse(path, media_type="application/octet-stream")
