"""Broadcast now, confirm an emergency, follow delivery live, stop everything on the air."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy import select

from .. import audit
from ..broadcasting import broadcasts, delivery, on_air
from ..broadcasting.broadcasts import BroadcastError
from ..context import Services
from ..db.models import Broadcast, Bulletin, MediaItem, User
from ..fleet import commands, desired
from ..fleet.areas import parent_map
from ..jobs import JobFailed
from ..live.sources import SourceError, check_relay_url, shown_url
from ..media import library, speech
from ..media.library import Ingest
from ..scheduling.bulletins import BulletinError, approval_required
from ..scheduling.schedules import check_targets
from ..security.passwords import verify_password
from ..security.roles import Permission
from .deps import Principal, ServicesDep, ViewerDep, ensure_in_scope, ensure_station_allowed, require
from .schemas import Name, SlugField, _In

router = APIRouter(tags=["broadcasts"])
Broadcaster = Annotated[Principal, Depends(require(Permission.SCHEDULE))]
Approver = Annotated[Principal, Depends(require(Permission.APPROVE))]
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
    text: Annotated[str, StringConstraints(min_length=1, max_length=speech.MAX_TEXT_CHARS)] | None = Field(
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


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except (BroadcastError, BulletinError) as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.post("/broadcasts", response_model=BroadcastPublic, status_code=201, summary="Broadcast now")
async def create_broadcast(body: BroadcastCreate, services: ServicesDep, principal: Broadcaster) -> Broadcast:
    """Every target starts at the same instant, a few seconds from now.

    An emergency is confirmed first: with `confirm_password` where the areas ask for the password,
    else it waits (`awaiting_confirmation`) for a second approver's `POST .../confirm`.
    """
    _check_source(body)
    if body.live is not None and body.live.kind == "relay":
        await ensure_station_allowed(services, body.live.url or "")
    with _errors(), services.db.session() as session:
        area_ids, device_ids = check_targets(session, principal.scope, body.area_ids, body.device_ids)
        areas = broadcasts.target_areas(session, area_ids, device_ids)
        confirmation = broadcasts.confirmation_needed(session, body.level, areas)
        if body.bulletin_id is None and body.level not in ("emergency", "live") and any(
                approval_required(session, area) for area in areas):
            raise BroadcastError("these areas require approval: broadcast an approved bulletin")
        if confirmation == "password":
            _check_password(session, principal, body.confirm_password)
    item, title = await _source(services, principal, body) if body.live is None else (None, "Trực tiếp")
    fields = body.model_dump() | {"area_ids": area_ids, "device_ids": device_ids,
                                  "title": body.title or title}
    with _errors(), services.db.session() as session:
        broadcast = broadcasts.create(session, principal.username, fields, item,
                                      awaiting=confirmation == "second_approver")
        session.flush()
        if broadcast.status == "on_air":
            await on_air.start(services, session, broadcast)
        return broadcast


def _check_source(body: BroadcastCreate) -> None:
    """Exactly one source; a live one at level live or emergency, and a relay with a usable URL."""
    unprocessable = status.HTTP_422_UNPROCESSABLE_CONTENT
    if sum(x is not None for x in (body.bulletin_id, body.media_sha256, body.text, body.live)) != 1:
        raise HTTPException(unprocessable, "give exactly one of bulletin_id, media_sha256, text and live")
    if (body.live is not None) != (body.level == "live") and body.level != "emergency":
        raise HTTPException(unprocessable, "a live source goes with level live (or emergency), and only it")
    if body.live is not None and body.live.kind == "relay":
        try:
            check_relay_url(body.live.url or "")
        except SourceError as exc:
            raise HTTPException(unprocessable, str(exc)) from None


def _check_password(session: Any, principal: Principal, password: str | None) -> None:
    user = session.get(User, principal.user_id) if principal.user_id is not None else None
    if user is None:
        raise BroadcastError("an API client cannot confirm an emergency by password", 403)
    if not password or not verify_password(user.password_hash, password):
        raise BroadcastError("confirm the emergency with your password (confirm_password)", 403)


async def _source(services: Services, principal: Principal, body: BroadcastCreate) -> tuple[MediaItem, str]:
    """The file to play and its title: the bulletin's, the library's, or text spoken now."""
    with services.db.session() as session:
        if body.bulletin_id is not None:
            bulletin = session.get(Bulletin, body.bulletin_id)
            if bulletin is None or not principal.can_see(bulletin.area_id):
                raise HTTPException(status.HTTP_404_NOT_FOUND, "no such bulletin")
            if bulletin.status != "approved" or bulletin.media_sha256 is None:
                raise HTTPException(status.HTTP_409_CONFLICT,
                                    f"the bulletin is {bulletin.status}, not approved")
            return _item(session, bulletin.media_sha256), bulletin.title
        if body.media_sha256 is not None:
            item = _item(session, body.media_sha256)
            return item, item.title
    try:
        text = speech.clean_text(body.text or "")
        ingest = Ingest(title=body.title or text[:60], kind="speech", actor=principal.username,
                        area_id=principal.area_id, text=text)
        stored = await library.from_text(services, services.speech, ingest, lambda _: None)
    except (ValueError, JobFailed) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    with services.db.session() as session:
        return _item(session, stored["sha256"]), ingest.title


def _item(session: Any, sha256: str) -> MediaItem:
    item: MediaItem | None = session.get(MediaItem, sha256)
    if item is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "no such media in the library")
    return item


@router.post("/broadcasts/{broadcast_id}/confirm", response_model=BroadcastPublic,
             summary="Confirm an emergency as the second approver")
async def confirm_broadcast(broadcast_id: str, services: ServicesDep, principal: Approver) -> Broadcast:
    """Someone other than its author, with approval rights over its areas, puts it on the air."""
    with _errors(), services.db.session() as session:
        broadcast = _visible(session, principal, broadcast_id)
        broadcasts.confirm(session, principal.username, broadcast)
        await on_air.start(services, session, broadcast)
        return broadcast


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
        return [b for b in rows if _in_scope(session, principal, b)]


@router.get("/broadcasts/{broadcast_id}", response_model=BroadcastPublic, summary="One broadcast")
async def get_broadcast(broadcast_id: str, services: ServicesDep, principal: ViewerDep) -> Broadcast:
    """With its final delivery report once it is done."""
    with services.db.session() as session:
        return _visible(session, principal, broadcast_id)


@router.get("/broadcasts/{broadcast_id}/delivery", summary="Delivery now, device by device")
async def get_delivery(broadcast_id: str, services: ServicesDep, principal: ViewerDep) -> dict[str, Any]:
    """Each device's state (pending, offline, acknowledged, downloading, playing, then final) and counts."""
    with services.db.session() as session:
        _visible(session, principal, broadcast_id)
    states = await delivery.snapshot(services.redis, broadcast_id)
    return {"devices": states, "summary": delivery.summary(states)}


@router.post("/broadcasts/{broadcast_id}/stop", response_model=BroadcastPublic, summary="Stop one broadcast")
async def stop_broadcast(broadcast_id: str, services: ServicesDep, principal: Broadcaster) -> BroadcastPublic:
    """Take it off the air everywhere it reaches (a live one ends within a second or two)."""
    with _errors(), services.db.session() as session:
        broadcast = _visible(session, principal, broadcast_id)
        if broadcast.status not in ("on_air", "awaiting_confirmation"):
            raise BroadcastError(f"the broadcast is {broadcast.status.replace('_', ' ')}")
        targets = broadcasts.withdraw(session, principal.username, broadcast)
        session.flush()
        stopped = BroadcastPublic.model_validate(broadcast)
        told = on_air.news(session, broadcast, by=principal.username)
    if services.live is not None:
        services.live.stop(broadcast_id)
    await desired.publish_targets(services, targets)
    await on_air.announce(services, [told])
    return stopped


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
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Last-Event-ID is not an id this stream sent")
    with services.db.session() as session:
        _visible(session, principal, broadcast_id)
    return StreamingResponse(_stream(services, broadcast_id, last_event_id or "0"),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _stream(services: Services, broadcast_id: str, last_id: str) -> AsyncIterator[str]:
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
async def stop_all(body: StopRequest, services: ServicesDep, principal: Broadcaster) -> StopResult:
    """Silence every loudspeaker in your scope (or in one area of it) within seconds.

    Broadcasts reaching only inside it are withdrawn; a signed `stop` command to each area makes
    every device stop what it plays and drop what waits (each sends a `stopped` receipt).
    """
    with services.db.session() as session:
        roots = _stop_roots(session, principal, body.area_id)
        now = int(time.time() * 1000)
        withdrawn, targets = broadcasts.stop_within(session, principal.username, roots, now)
        audit.record(session, principal.username, "broadcast.stop_all", roots, withdrawn=withdrawn)
        session.flush()
        told = [on_air.news(session, b, by=principal.username)
                for b in session.scalars(select(Broadcast).where(Broadcast.id.in_(withdrawn)))]
    reason = {"reason": f"stop-all by {principal.username}"[:64]}
    command_ids = [await commands.send_to_area(services, area, "stop", reason) for area in roots]
    await desired.publish_targets(services, targets)
    await on_air.announce(services, told)
    return StopResult(areas=roots, broadcasts_withdrawn=withdrawn, command_ids=command_ids)


def _stop_roots(session: Any, principal: Principal, area_id: str | None) -> list[str]:
    if area_id is not None:
        ensure_in_scope(principal, area_id)
        return [area_id]
    if principal.area_id is not None:
        return [principal.area_id]
    return sorted(area for area, parent in parent_map(session).items() if parent is None)


def _visible(session: Any, principal: Principal, broadcast_id: str) -> Broadcast:
    broadcast: Broadcast | None = session.get(Broadcast, broadcast_id[:48])
    if broadcast is None or not _in_scope(session, principal, broadcast):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such broadcast")
    return broadcast


def _in_scope(session: Any, principal: Principal, broadcast: Broadcast) -> bool:
    return all(principal.can_see(area) for area in broadcasts.target_areas(
        session, broadcast.area_ids, broadcast.device_ids))
