"""The console's microphone: PCM over a WebSocket into a live broadcast.

`GET /api/v1/broadcasts/{id}/microphone` upgrades to a WebSocket. The console (logged in with its
session cookie; other callers may send a bearer token) sends binary messages of 48 kHz mono
signed 16-bit little-endian PCM, each at most one second long, as they are captured; closing the
socket ends the broadcast. The controller answers with JSON text messages: `{"state": "on_air",
"stream": ...}` when the first audio went out (and again when it goes out again after the broker
was away), `{"state": "interrupted", "reason": "broker_unreachable"}` while the broker takes none,
and `{"state": "ended", "reason": ...}` at the end. A page of another site cannot open it: the
Origin must be the controller's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from ..broadcasting.broadcasts import target_areas
from ..db.models import Broadcast
from ..live.registry import LiveError, LiveSessions
from ..live.sessions import LiveSession
from ..live.sources import MicrophoneFeed
from ..security.roles import Permission, allows
from .deps import Principal, resolve_token, session_cookie

log = logging.getLogger(__name__)
router = APIRouter(tags=["broadcasts"])

MAX_BLOCK_BYTES = 48_000 * 2  # one second


@router.websocket("/broadcasts/{broadcast_id}/microphone")
async def microphone(websocket: WebSocket, broadcast_id: str) -> None:
    """Carry the operator's microphone into a live microphone broadcast that is on the air."""
    live: LiveSessions = websocket.app.state.airtime.live
    principal = await _authenticate(websocket)
    problem = _refusal(websocket, principal, broadcast_id)
    if problem is not None:
        await websocket.close(status.WS_1008_POLICY_VIOLATION, problem)
        return
    try:
        session, feed = live.attach_microphone(broadcast_id)
    except LiveError as exc:
        await websocket.close(status.WS_1008_POLICY_VIOLATION, str(exc))
        return
    await websocket.accept()
    log.info("live %s: microphone of %s connected", broadcast_id, principal.username if principal else "?")
    receiver = asyncio.create_task(_receive(websocket, feed))
    ended = asyncio.create_task(live.wait(broadcast_id))
    announcer = asyncio.create_task(_announce(websocket, session))
    try:
        await asyncio.wait({receiver, ended}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        feed.close()
        reason = await ended
        announcer.cancel()
        receiver.cancel()
        with contextlib.suppress(Exception):
            await websocket.send_json({"state": "ended", "reason": reason})
            await websocket.close()


async def _receive(websocket: WebSocket, feed: MicrophoneFeed) -> None:
    """Queue the PCM the console sends, until it closes the socket."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            block = message.get("bytes")
            if block is None or len(block) > MAX_BLOCK_BYTES or len(block) % 2:
                await websocket.close(status.WS_1003_UNSUPPORTED_DATA,
                                      "send binary 48 kHz mono s16le PCM, at most 1 s per message")
                return
            feed.push(block)


async def _announce(websocket: WebSocket, session: LiveSession) -> None:
    """Tell the console when its audio is on the air, and where; and while the broker takes none."""
    told = None
    while True:
        session.changed.clear()
        state = None if session.start_ms is None else "on_air" if session.delivering else "interrupted"
        if state == "on_air" and state != told:
            await websocket.send_json({"state": "on_air", "stream": session.broadcast_id,
                                       "start_ms": session.start_ms, "latency_ms": session.latency_ms})
        elif state == "interrupted" and state != told:
            await websocket.send_json({"state": "interrupted", "reason": "broker_unreachable"})
        told = state
        await session.changed.wait()


async def _authenticate(websocket: WebSocket) -> Principal | None:
    header = websocket.headers.get("authorization", "")
    scheme, _, bearer = header.partition(" ")
    token = bearer.strip() if scheme.lower() == "bearer" else session_cookie(websocket)
    return await resolve_token(websocket.app.state.services, token) if token else None


def _refusal(websocket: WebSocket, principal: Principal | None, broadcast_id: str) -> str | None:
    """Why this socket may not carry the microphone, or None."""
    if principal is None:
        return "not authenticated"
    origin = websocket.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != websocket.headers.get("host"):
        return "this socket is for the controller's own console"
    if not allows(principal.role, Permission.SCHEDULE):
        return f"role {principal.role} may not broadcast"
    with websocket.app.state.services.db.session() as session:
        broadcast = session.get(Broadcast, broadcast_id[:48])
        areas = target_areas(session, broadcast.area_ids, broadcast.device_ids) if broadcast else []
        if broadcast is None or not all(principal.can_see(a) for a in areas):
            return "no such broadcast"
        if broadcast.live_kind != "microphone" or broadcast.status != "on_air":
            return "not a live microphone broadcast on the air"
    return None

