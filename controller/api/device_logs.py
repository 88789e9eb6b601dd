"""Logs uploaded by devices (the upload-logs maintenance command), readable by technicians."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from loalang_protocol.files import write_atomic

from ..db.models import Device
from ..errors import DomainError
from ..security.device_auth import authenticated_device
from ..security.roles import Permission
from .deps import Principal, ServicesDep, ensure_in_scope, require

router = APIRouter(tags=["devices"])
MAX_LOG_BYTES = 256 * 1024
KEEP_PER_DEVICE = 20
NAME_RE = re.compile(r"^\d{8}T\d{6}Z\.log$")
Viewer = Annotated[Principal, Depends(require(Permission.VIEW))]


@router.post("/api/v1/devices/{device_id}/logs", status_code=201, summary="A device uploads its log")
async def upload_log(device_id: str, request: Request, services: ServicesDep) -> dict[str, object]:
    """Store a device's recent log (signed, body included, by the device itself); the oldest uploads
    are pruned."""
    body = await request.body()  # within the request body limit (limits.py)
    device = authenticated_device(request, services, body)
    if device.id != device_id:
        raise DomainError("not_own_log", "a device may upload only its own log", 403)
    if len(body) > MAX_LOG_BYTES:
        raise DomainError("log_too_large", f"a log is at most {MAX_LOG_BYTES} bytes", 413)
    folder = services.settings.data_dir / "device-logs" / device_id
    folder.mkdir(parents=True, exist_ok=True)
    name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + ".log"
    write_atomic(folder / name, body)
    for old in sorted(folder.glob("*.log"))[:-KEEP_PER_DEVICE]:
        old.unlink()
    return {"name": name, "bytes": len(body)}


def _folder_in_scope(device_id: str, services: ServicesDep, principal: Principal) -> Path:
    with services.db.session() as session:
        device = session.get(Device, device_id[:48])
    if device is None:
        raise DomainError("unknown_device", "no such device", 404)
    ensure_in_scope(principal, device.area_id)
    return services.settings.data_dir / "device-logs" / device.id


@router.get("/api/v1/devices/{device_id}/logs", summary="List a device's uploaded logs")
async def list_logs(device_id: str, services: ServicesDep, principal: Viewer) -> list[str]:
    """Names of the uploads, newest first."""
    folder = _folder_in_scope(device_id, services, principal)
    return sorted((p.name for p in folder.glob("*.log")), reverse=True) if folder.exists() else []


@router.get("/api/v1/devices/{device_id}/logs/{name}", response_class=PlainTextResponse,
            summary="Read one log")
async def read_log(device_id: str, name: str, services: ServicesDep, principal: Viewer) -> str:
    """One uploaded log as text."""
    folder = _folder_in_scope(device_id, services, principal)
    if not NAME_RE.match(name) or not (folder / name).is_file():
        raise DomainError("unknown_log", "no such log", 404)
    return (folder / name).read_text(errors="replace")
