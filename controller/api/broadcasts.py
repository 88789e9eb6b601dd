"""Broadcast now, confirm an emergency, follow delivery live, stop everything on the air."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field, field_validator
from sqlalchemy import select

from ..airtime.service import NowRequest, broadcast_in_scope, visible_broadcast
from ..broadcasting import delivery
from ..context import Services
from ..db.models import Broadcast
from ..errors import DomainError
from ..live.sources import SourceError, check_relay_url, shown_url
from ..media.store import preview_url
from .deps import AirtimeDep, PrincipalDep, ServicesDep, ViewerDep
from .schemas import Name, SlugField, SpokenText, _In
from .streams import event_stream

router = APIRouter(tags=["broadcasts"])
STREAM_MAX_S = 3600
STREAM_KEEPALIVE_S = 15
BroadcastStatus = Literal["awaiting_confirmation", "on_air", "stopped", "done"]
QUIET_S = 1.0  # the end is checked after this long without a change
EVENT_ID = re.compile(r"[0-9]{1,15}-[0-9]{1,10}")


class LiveSourceIn(_In):
    """A live source: the console's microphone (sent over the broadcast's microphone WebSocket) or a
    station relayed from an http(s) URL (Icecast/Shoutcast, HLS)."""

    kind: Literal["microphone", "relay"]
    url: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        None, examples=["https://radio.example.vn/vov1.mp3"], description="the station, for a relay")


class BroadcastCreate(_In):
    """What to put on the air now, at which level, where: an approved bulletin, a library file, text,
    or a live source."""

    level: Literal["normal", "priority", "live", "emergency"] = Field(examples=["emergency"])
    bulletin_id: SlugField | None = None
    media_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    text: SpokenText | None = Field(
        None, examples=["Cảnh báo: nước sông đang lên nhanh, bà con di chuyển lên chỗ cao."])
    title: Name | None = Field(None, description="default: the bulletin's or the file's title")
    area_ids: list[SlugField] = Field([], max_length=500, examples=[["xa-hoa-binh"]])
    device_ids: list[SlugField] = Field([], max_length=500)
    max_lateness_ms: int = Field(60_000, ge=0, le=3_600_000)
    quiet_override: bool = Field(False, description="play a normal or priority broadcast in quiet hours")
    confirm_password: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        None, description="your password again, where an emergency or live broadcast is confirmed by "
        "password")
    live: LiveSourceIn | None = Field(None, description="a live source instead of a file (level live or "
                                      "emergency)")
    in_reply_to: SlugField | None = Field(None, description="an earlier broadcast (or the broadcast an alert "
                                          "made) that this one corrects, retracts or answers")


class BroadcastPublic(BaseModel):
    """A broadcast and what became of it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    level: str
    media_sha256: str | None
    live_kind: str | None = Field(description="microphone or relay, for a live broadcast")
    live_url: str | None = Field(description="the relayed station (without any credentials)")
    bulletin_id: str | None
    schedule_id: str | None = Field(None, description="the relay schedule whose window this airs in")
    area_ids: list[str]
    device_ids: list[str]
    status: str = Field(description="awaiting_confirmation, on_air, stopped or done")
    start_ms: int | None = Field(description="the shared start instant (UTC ms)")
    duration_ms: int
    created_by: str
    confirmed_by: str | None
    stopped_by: str | None
    created_at: datetime
    report: dict[str, Any] = Field(description="the final delivery report, once done")
    recording_sha256: str | None = Field(None, description="a live broadcast's recording in the library "
                                         "once it ended: what its encoder put on the air")
    in_reply_to: str | None = Field(None, description="the earlier broadcast this one corrects or answers")

    @computed_field(description="where the console plays the recording (null without one)")  # type: ignore[prop-decorator]
    @property
    def recording_url(self) -> str | None:
        return preview_url(self.recording_sha256) if self.recording_sha256 else None

    @field_validator("live_url")
    @classmethod
    def _hide_credentials(cls, url: str | None) -> str | None:
        return shown_url(url) if url else None


class StopRequest(_In):
    """Where to stop: an area in your scope (default: your whole scope)."""

    area_id: SlugField | None = None


class StopResult(BaseModel):
    """What was stopped and the commands sent."""

    areas: list[str]
    broadcasts_withdrawn: list[str]
    command_ids: list[str]
    broker_reached: bool = Field(description="false while the broker is unreachable: the withdrawals are "
                                             "recorded and reach each device as it comes back")


@router.post("/broadcasts", response_model=BroadcastPublic, status_code=201, summary="Broadcast now")
async def create_broadcast(body: BroadcastCreate, airtime: AirtimeDep, principal: PrincipalDep) -> Broadcast:
    """Every target starts at the same instant, a few seconds from now.

    The airtime gate decides (docs/airtime.md): an emergency or live broadcast is confirmed with
    `confirm_password` where the targets' strictest policy asks for the password, else it waits
    (`awaiting_confirmation`) for a second approver's `POST .../confirm`; inside a target's quiet
    hours it needs `quiet_override`; to a target area that requires approval, below live, only a
    bulletin an approver approved goes.
    """
    _check_source(body)
    live = body.live
    return await airtime.broadcast_now(principal, NowRequest(
        level=body.level, area_ids=tuple(body.area_ids), device_ids=tuple(body.device_ids),
        bulletin_id=body.bulletin_id, media_sha256=body.media_sha256, text=body.text,
        live_kind=live.kind if live else None, live_url=live.url if live else None, title=body.title,
        max_lateness_ms=body.max_lateness_ms, quiet_override=body.quiet_override,
        confirm_password=body.confirm_password, in_reply_to=body.in_reply_to))


def _check_source(body: BroadcastCreate) -> None:
    """Exactly one source; a live one at level live or emergency, and a relay with a usable URL."""
    if sum(x is not None for x in (body.bulletin_id, body.media_sha256, body.text, body.live)) != 1:
        raise DomainError("one_source", "give exactly one of bulletin_id, media_sha256, text and live", 422)
    if (body.live is not None) != (body.level == "live") and body.level != "emergency":
        raise DomainError("live_level", "a live source goes with level live (or emergency), and only it", 422,
                          "level")
    if body.live is not None and body.live.kind == "relay":
        try:
            check_relay_url(body.live.url or "")
        except SourceError as exc:
            raise DomainError("bad_station", str(exc), 422, "url") from None


@router.post("/broadcasts/{broadcast_id}/confirm", response_model=BroadcastPublic,
             summary="Confirm an emergency as the second approver")
async def confirm_broadcast(broadcast_id: str, airtime: AirtimeDep, principal: PrincipalDep) -> Broadcast:
    """Someone other than its author, with approval rights over its areas, puts it on the air."""
    return await airtime.confirm(principal, broadcast_id)


@router.get("/broadcasts", response_model=list[BroadcastPublic], summary="Recent broadcasts in your scope")
async def list_broadcasts(
    services: ServicesDep, principal: ViewerDep,
    status_: Annotated[BroadcastStatus | None, Query(alias="status", description="only these")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 200,
) -> list[Broadcast]:
    """The latest ones (200 unless told), newest first; `status=on_air` lists what is on the air now."""
    query = select(Broadcast)
    if status_ is not None:
        query = query.where(Broadcast.status == status_)
    with services.db.session() as session:
        rows = session.scalars(query.order_by(Broadcast.created_at.desc()).limit(limit))
        return [b for b in rows if broadcast_in_scope(session, principal, b)]


@router.get("/broadcasts/{broadcast_id}", response_model=BroadcastPublic, summary="One broadcast")
async def get_broadcast(broadcast_id: str, services: ServicesDep, principal: ViewerDep) -> Broadcast:
    """With its final delivery report once it is done."""
    with services.db.session() as session:
        return visible_broadcast(session, principal, broadcast_id)


@router.get("/broadcasts/{broadcast_id}/delivery", summary="Delivery now, device by device")
async def get_delivery(broadcast_id: str, services: ServicesDep, principal: ViewerDep) -> dict[str, Any]:
    """Each device's state (pending, offline, acknowledged, downloading, playing, then final) and counts."""
    with services.db.session() as session:
        visible_broadcast(session, principal, broadcast_id)
    states = await delivery.snapshot(services.redis, broadcast_id)
    return {"devices": states, "summary": delivery.summary(states)}


@router.post("/broadcasts/{broadcast_id}/stop", response_model=BroadcastPublic, summary="Stop one broadcast")
async def stop_broadcast(broadcast_id: str, airtime: AirtimeDep, principal: PrincipalDep) -> Broadcast:
    """Take it off the air everywhere it reaches (a live one ends within a second or two)."""
    return await airtime.stop(principal, broadcast_id)


@router.get("/broadcasts/{broadcast_id}/events", summary="Follow delivery as server-sent events",
            response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def delivery_events(
    broadcast_id: str, services: ServicesDep, principal: ViewerDep,
    last_event_id: Annotated[str | None, Header(description="resume after this event")] = None,
) -> StreamingResponse:
    """Every state each device has been in, in order, then each change as it happens; ends when all are final.

    Each event has an id: a client that reconnects with `Last-Event-ID` (browsers do so by
    themselves) gets only the events after it.
    """
    if last_event_id is not None and not EVENT_ID.fullmatch(last_event_id):
        raise DomainError("bad_event_id", "Last-Event-ID is not an id this stream sent", 400, "Last-Event-ID")
    with services.db.session() as session:
        visible_broadcast(session, principal, broadcast_id)
    return await event_stream(services, _stream(services, broadcast_id, last_event_id or "0"))


async def _stream(services: Services, broadcast_id: str, last_id: str) -> AsyncGenerator[str, None]:
    deadline = time.monotonic() + STREAM_MAX_S
    kept_alive = time.monotonic()
    while time.monotonic() < deadline:
        events = await delivery.events_after(services.redis, broadcast_id, last_id, int(QUIET_S * 1000))
        for last_id, event in events:
            yield f"id: {last_id}\ndata: {event}\n\n"
        if events:
            continue
        # a quiet moment: every change logged so far has been sent
        if delivery.summary(await delivery.snapshot(services.redis, broadcast_id))["finished"]:
            yield "event: end\ndata: {}\n\n"
            return
        if time.monotonic() - kept_alive > STREAM_KEEPALIVE_S:
            kept_alive = time.monotonic()
            yield ": still here\n\n"


@router.post("/broadcasts/stop-all", response_model=StopResult, summary="Stop everything on the air")
async def stop_all(body: StopRequest, airtime: AirtimeDep, principal: PrincipalDep) -> StopResult:
    """Silence every loudspeaker in your scope (or in one area of it) within seconds.

    Broadcasts reaching only inside it are withdrawn; a signed `stop` command to each area makes
    every device stop what it plays and drop what waits (each sends a `stopped` receipt).
    """
    stopped = await airtime.stop_all(principal, body.area_id)
    return StopResult(areas=stopped.areas, broadcasts_withdrawn=stopped.broadcasts_withdrawn,
                      command_ids=stopped.command_ids, broker_reached=stopped.broker_reached)
