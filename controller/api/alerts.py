"""CAP 1.2 alerts from warning centres (API clients with the `alert` role)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from sqlalchemy import select

from ..alerts import cap, intake
from ..db.models import CapAlertRecord
from ..jobs import JobFailed
from ..security.roles import Permission
from .deps import Principal, ServicesDep, ViewerDep, require

router = APIRouter(tags=["alerts"])
AlertSource = Annotated[Principal, Depends(require(Permission.SUBMIT_ALERTS))]
EXAMPLE = """<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>VN-KTTV-2026-1127-01</identifier><sender>kttv@example.vn</sender>
  <sent>2026-11-27T07:00:00+07:00</sent><status>Actual</status><msgType>Alert</msgType>
  <scope>Public</scope>
  <info><language>vi-VN</language><category>Met</category><event>Lũ quét</event>
    <urgency>Immediate</urgency><severity>Severe</severity><certainty>Likely</certainty>
    <headline>Cảnh báo lũ quét</headline><instruction>Bà con di chuyển lên vùng cao ngay.</instruction>
    <area><areaDesc>Xã Hòa Bình</areaDesc><geocode><valueName>VN-ADMIN</valueName><value>19183</value>
    </geocode></area></info>
</alert>"""


@router.post("/alerts/cap", summary="Receive a CAP 1.2 alert", openapi_extra={
    "requestBody": {"required": True, "content": {"application/xml": {"schema": {"type": "string"},
                                                                        "example": EXAMPLE}}}})
async def receive_cap(request: Request, services: ServicesDep, principal: AlertSource) -> dict[str, Any]:
    """Sound the alert where its areas match (its attention signal first), only on test devices for Test
    and Exercise, never for System and Draft; Cancel stops what it refers to. Posting the same
    (sender, identifier) again answers the first outcome with `repeated: true`."""
    body = await request.body()
    try:
        alert = cap.parse(body)
        return (await intake.receive(services, principal.username, principal.scope, alert)).as_dict()
    except (cap.CapError, JobFailed, ValueError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)[:300]) from None


@router.get("/alerts", summary="Alerts received")
async def list_alerts(services: ServicesDep, principal: ViewerDep) -> list[dict[str, Any]]:
    """The last 100 alerts received and what each did."""
    with services.db.session() as session:
        rows = session.scalars(select(CapAlertRecord).order_by(CapAlertRecord.id.desc()).limit(100))
        return [{"sender": r.sender, "identifier": r.identifier, "sent": r.sent, "status": r.status,
                 "msg_type": r.msg_type, "outcome": r.outcome, "detail": r.detail,
                 "broadcast_id": r.broadcast_id, "client": r.client,
                 "received_at": r.received_at.isoformat()} for r in rows]
