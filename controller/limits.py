"""A cap on request bodies, so an oversized request is refused before it is read into memory; and
paths with a NUL character, which no id holds (PostgreSQL could not even look them up), end here."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1024 * 1024


class BodyTooLarge(Exception):
    """The client sent more than the limit."""


class BodySizeLimit:
    """ASGI middleware answering 413 to bodies over the limit (declared or streamed).

    exceptions maps exact paths (file uploads) to their own limits.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, exceptions: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.exceptions = exceptions or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count what actually arrives."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope.get("path", ""):
            await _answer(send, 404, "not_found", "not found")  # no id holds a NUL character
            return
        limit = self.exceptions.get(scope.get("path", ""), self.default_max_bytes)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, limit)

    async def _refuse(self, send: Send, limit: int) -> None:
        size = f"{round(limit / 1_000_000)} MB" if limit >= 1_000_000 else f"{limit // 1024} KiB"
        await _answer(send, 413, "too_large", f"request body is over {size}")


async def _answer(send: Send, status: int, code: str, detail: str) -> None:
    """A JSON error answer, with its stable code, sent before the application saw the request."""
    body = json.dumps({"detail": detail, "code": code}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
