"""Signed agent releases: admins of the whole tree add them; enrolled devices download them."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, BinaryIO, Literal

from fastapi import APIRouter, Depends, File, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from loalang_protocol.releases import MAX_RELEASE_BYTES

from ..context import Services
from ..db.models import AgentRelease
from ..errors import DomainError
from ..releases import rollouts
from ..releases.shelf import ReleaseShelf, shelf_in
from ..security.device_auth import authenticated_device
from ..security.roles import Permission
from .deps import Principal, ServicesDep, require
from .schemas import SlugField, _In

router = APIRouter(tags=["releases"])
DEFAULT_STAGES: tuple[int | str, ...] = (1, "5%", "25%", "100%")
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


class RolloutCreate(_In):
    """A release to offer to these areas' enrolled devices and these devices, stage by stage."""

    release: str = Field(max_length=40)
    areas: list[SlugField] = Field(default_factory=list, max_length=100)
    devices: list[SlugField] = Field(default_factory=list, max_length=500)
    stages: list[int | str] = Field(default_factory=lambda: list(DEFAULT_STAGES), min_length=1,
                                    max_length=10, description="how many devices have been offered the "
                                    "release by each stage's end: a count or a percentage of all")
    gate_s: int = Field(300, ge=30, le=3600, description="how long a device has, from each start of the "
                        "new release, to prove healthy before its board returns to the previous release")
    max_failures: int = Field(0, ge=0, le=10_000, description="a stage with more failed devices halts")


class RolloutDevicePublic(BaseModel):
    """One device of a rollout."""

    device_id: str
    stage: int = Field(description="1 for the first stage")
    from_version: str
    state: str = Field(description="waiting, offered, healthy or failed")
    detail: str


class RolloutPublic(BaseModel):
    """A staged rollout and how far it went."""

    id: str
    release: str
    state: str = Field(description="running, paused, halted, completed or rolled_back")
    stage: int = Field(description="the current stage, 1 for the first")
    stages: list[int]
    gate_s: int
    max_failures: int
    reason: str = Field(description="why it halted")
    created_by: str
    created_at: datetime
    counts: dict[str, int]
    devices: list[RolloutDevicePublic]


@router.post("/api/v1/rollouts", response_model=RolloutPublic, status_code=201, summary="Start a rollout")
async def create_rollout(body: RolloutCreate, services: ServicesDep,
                         principal: ReleaseManager) -> RolloutPublic:
    """The release is offered to the first stage's devices at once, then to each next stage when every
    device of the one before is judged (healthy: it reported `update-completed`; failed: it returned to
    its previous release, refused it, or said nothing within the allowance) and no more than
    `max_failures` failed; otherwise the rollout halts and says why. A device installs only when
    nothing plays and nothing is due within five minutes. 404 `unknown_release`, `unknown_area`,
    `unknown_device`; 422 `rollout_no_devices`, `invalid_stages`; 409 `device_in_rollout`. Admins of the
    whole tree only."""
    _whole_tree(principal)
    request = rollouts.RolloutRequest(release=body.release, areas=list(body.areas),
                                      devices=list(body.devices), stages=list(body.stages),
                                      gate_s=body.gate_s, max_failures=body.max_failures)
    rollout = rollouts.create(services, request, principal.username)
    await rollouts.step(services)
    return _rollout(services, rollout.id)


@router.get("/api/v1/rollouts", response_model=list[RolloutPublic], summary="Rollouts, newest first")
async def list_rollouts(services: ServicesDep, principal: ReleaseManager) -> list[RolloutPublic]:
    """Every rollout with its devices."""
    return [_rollout(services, rollout.id) for rollout in rollouts.rollouts(services)]


@router.get("/api/v1/rollouts/{rollout_id}", response_model=RolloutPublic, summary="One rollout")
async def get_rollout(rollout_id: str, services: ServicesDep, principal: ReleaseManager) -> RolloutPublic:
    """404 `unknown_rollout`."""
    return _rollout(services, rollout_id)


@router.post("/api/v1/rollouts/{rollout_id}/{action}", response_model=RolloutPublic,
             summary="Pause, resume or roll back a rollout")
async def act_on_rollout(rollout_id: str, action: Literal["pause", "resume", "roll-back"],
                         services: ServicesDep, principal: ReleaseManager) -> RolloutPublic:
    """`pause`: no new stage starts. `resume`: a paused or halted rollout goes on. `roll-back`: every
    device offered the release is offered the one it ran before (when the controller holds it). 409
    `rollout_state` when the rollout is not in a state the action applies to."""
    _whole_tree(principal)
    if action == "pause":
        rollouts.pause(services, rollout_id, principal.username)
    elif action == "resume":
        rollouts.resume(services, rollout_id, principal.username)
    else:
        await rollouts.roll_back(services, rollout_id, principal.username)
    return _rollout(services, rollout_id)


def _rollout(services: Services, rollout_id: str) -> RolloutPublic:
    rollout, members = rollouts.members_of(services, rollout_id)
    return RolloutPublic(
        id=rollout.id, release=rollout.release_version, state=rollout.state, stage=rollout.stage + 1,
        stages=rollout.stages, gate_s=rollout.gate_s, max_failures=rollout.max_failures,
        reason=rollout.reason, created_by=rollout.created_by, created_at=rollout.created_at,
        counts=rollouts.describe(members),
        devices=[RolloutDevicePublic(device_id=m.device_id, stage=m.stage + 1, from_version=m.from_version,
                                     state=m.state, detail=m.detail) for m in members])


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
