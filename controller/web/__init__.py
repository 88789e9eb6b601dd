"""The console's pages, served as static files under /console with strict security headers.

The console is a small single-page application in plain JavaScript modules (no build step): it
calls the same API as every other client, with the session cookie and its CSRF token. The
technician's field view is one page of its own at /d/{device_id}.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from starlette.responses import FileResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

FOLDER = Path(__file__).parent
FIELD_PAGE = FOLDER / "field.html"


def security_headers(tile_url: str = "") -> dict[str, str]:
    """The headers of every console page; map tiles may come from tile_url's origin alone."""
    parts = urlsplit(tile_url)
    tiles = f" {parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    return {
        "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                                   f"connect-src 'self'; img-src 'self' data: blob:{tiles}; "
                                   "media-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; "
                                   "form-action 'self'",
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
        "permissions-policy": "microphone=(self), camera=(), geolocation=()",
        "cache-control": "no-cache",
    }


class ConsoleFiles(StaticFiles):
    """The console's files, each answer with the console's security headers."""

    def __init__(self, tile_url: str = "") -> None:
        super().__init__(directory=FOLDER, html=True)
        self.headers = security_headers(tile_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a file, adding the headers."""
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"],
                                      *((k.encode(), v.encode()) for k, v in self.headers.items())]
            await send(message)

        await super().__call__(scope, receive, with_headers)


def field_page(tile_url: str = "") -> FileResponse:
    """The technician's page for one device (it reads the device id from its own address)."""
    return FileResponse(FIELD_PAGE, media_type="text/html", headers=security_headers(tile_url))
