"""CAP 1.2 alerts from warning centres (API clients with the `alert` role)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..airtime.service import broadcast_in_scope
from ..alerts import cap, intake
from ..db.models import ApiClient, Broadcast, CapAlertRecord
from ..errors import DomainError
from ..jobs import JobFailed
from .deps import AirtimeDep, Principal, PrincipalDep, ServicesDep, ViewerDep

router = APIRouter(tags=["alerts"])
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
async def receive_cap(request: Request, services: ServicesDep, airtime: AirtimeDep,
                      principal: PrincipalDep) -> dict[str, Any]:
    """Sound the alert where its areas match (its attention signal first), only on test devices for Test
    and Exercise, never for System and Draft; Cancel stops what it refers to (alerts this client put
    on the air, inside its scope). Posting the same (sender, identifier) again answers the first
    outcome with `repeated: true`; an alert already expired is refused (422, `alert_expired`)."""
    airtime.check_alert_source(principal)
    body = await request.body()
    try:
        alert = cap.parse(body)
        return (await intake.receive(services, airtime, principal, alert)).as_dict()
    except DomainError:
        raise
    except (cap.CapError, JobFailed, ValueError) as exc:
        raise DomainError("alert_invalid", str(exc)[:300], 422) from None


@router.get("/alerts", summary="Alerts received")
async def list_alerts(services: ServicesDep, principal: ViewerDep) -> list[dict[str, Any]]:
    """The last 100 alerts received in your scope (posted by a client of your scope, or sounded only
    inside it) and what each did."""
    with services.db.session() as session:
        query = select(CapAlertRecord).order_by(CapAlertRecord.id.desc())
        rows = [r for r in session.scalars(query.limit(2000)) if _alert_in_scope(session, principal, r)][:100]
        return [{"sender": r.sender, "identifier": r.identifier, "sent": r.sent, "status": r.status,
                 "msg_type": r.msg_type, "outcome": r.outcome, "detail": r.detail,
                 "broadcast_id": r.broadcast_id, "client": r.client,
                 "received_at": r.received_at.isoformat()} for r in rows]


def _alert_in_scope(session: Session, principal: Principal, record: CapAlertRecord) -> bool:
    if principal.scope is None:
        return True
    client = session.get(ApiClient, record.client.removeprefix("client:"))
    if client is not None and client.area_id is not None and principal.can_see(client.area_id):
        return True
    broadcast = session.get(Broadcast, record.broadcast_id) if record.broadcast_id else None
    return broadcast is not None and broadcast_in_scope(session, principal, broadcast)
