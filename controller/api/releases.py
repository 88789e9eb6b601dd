"""Signed agent releases: admins of the whole tree add them; enrolled devices download them."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, BinaryIO

from fastapi import APIRouter, Depends, File, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from loalang_protocol.releases import MAX_RELEASE_BYTES

from ..context import Services
from ..db.models import AgentRelease
from ..errors import DomainError
from ..releases.shelf import ReleaseShelf, shelf_in
from ..security.device_auth import authenticated_device
from ..security.roles import Permission
from .deps import Principal, ServicesDep, require

router = APIRouter(tags=["releases"])
ReleaseManager = Annotated[Principal, Depends(require(Permission.MANAGE_RELEASES))]
CHUNK = 1 << 20


class ReleasePublic(BaseModel):
    """A signed agent release the controller holds."""

    version: str
    sha256: str
    size: int
    notes: str
    signed_by: str = Field(description="the id of the release key that signed it")
    built_at: datetime
    added_at: datetime
    added_by: str
    download_url: str = Field(description="for enrolled devices, with their signed request")


ReleaseFile = Annotated[UploadFile, File(description="a release file (`radio-controller releases pack`)")]


@router.post("/api/v1/releases", response_model=ReleasePublic, status_code=201,
             summary="Add a signed release")
async def add_release(response: Response, services: ServicesDep, principal: ReleaseManager,
                      file: ReleaseFile) -> ReleasePublic:
    """Verify a release against this controller's root key and keep it. Refused (422, audited as
    `release.refused`): `release_not_certified` (its key is not certified by this root for releases:
    a control key, or another root's), `release_key_revoked`, `release_bad_signature`,
    `release_tampered` (a file changed, missing or added after signing), `release_malformed`; 413
    `release_too_large`; 409 `release_version_exists` for another file under a known version (the same
    file again answers 200). Admins of the whole tree only (403 `whole_tree_only`)."""
    _whole_tree(principal)
    shelf = _shelf(services)
    upload = await run_in_threadpool(_receive, shelf, file.file)
    release, new = await run_in_threadpool(shelf.add, upload, principal.username)
    if not new:
        response.status_code = 200
    return _public(release)


@router.get("/api/v1/releases", response_model=list[ReleasePublic], summary="The releases held")
async def list_releases(services: ServicesDep, principal: ReleaseManager) -> list[ReleasePublic]:
    """Newest added first."""
    return [_public(release) for release in _shelf(services).releases()]


@router.get("/api/v1/releases/{version}", response_model=ReleasePublic, summary="One release")
async def get_release(version: str, services: ServicesDep, principal: ReleaseManager) -> ReleasePublic:
    """404 `unknown_release` when no release has this version."""
    return _public(_shelf(services).release(version))


@router.get("/releases/{sha256}", summary="Download a release (enrolled devices only)",
            response_class=FileResponse)
async def download_release(sha256: str, request: Request, services: ServicesDep) -> FileResponse:
    """Serve a release file to a device that signs its request with its enrolled key; Range supported."""
    authenticated_device(request, services)
    path = _shelf(services).path(sha256)
    if path is None:
        raise DomainError("unknown_release", "no such release", 404)
    return FileResponse(path, media_type="application/octet-stream")


def _whole_tree(principal: Principal) -> None:
    if principal.scope is not None:
        raise DomainError("whole_tree_only", "only an admin of the whole tree may add releases", 403)


def _shelf(services: Services) -> ReleaseShelf:
    return shelf_in(services.settings.data_dir, services.db)


def _receive(shelf: ReleaseShelf, source: BinaryIO) -> Path:
    """Copy the upload beside the releases (413 over the limit)."""
    fd, path = shelf.temporary_file()
    size = 0
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(CHUNK):
            size += len(chunk)
            if size > MAX_RELEASE_BYTES:
                out.close()
                path.unlink()
                raise DomainError("release_too_large", f"a release is at most {MAX_RELEASE_BYTES} bytes", 413,
                                  "file")
            out.write(chunk)
    return path


def _public(release: AgentRelease) -> ReleasePublic:
    return ReleasePublic(version=release.version, sha256=release.sha256, size=release.size,
                         notes=release.notes, signed_by=release.signed_by,
                         built_at=datetime.fromtimestamp(release.built_ms / 1000, UTC),
                         added_at=release.added_at, added_by=release.added_by,
                         download_url=f"/releases/{release.sha256}")
