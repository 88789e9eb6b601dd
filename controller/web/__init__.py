"""The console's pages, served under /console with strict security headers, small and cached well.

The console is a small single-page application in plain JavaScript modules (no build step): it
calls the same API as every other client, with the session cookie and its CSRF token. The
technician's field view is one page of its own at /d/{device_id}.

Its files are read once at startup (assets.py): each is served under a name holding its content's
hash, gzip-compressed when it is text, and cached by browsers for a year. The HTML pages
(pages.py) name those files, are never cached without asking, and answer 304 when unchanged. The
plain names keep working (asked again each time).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from .assets import Asset, ConsoleAssets, build_assets
from .pages import Page, render_pages

FOLDER = Path(__file__).parent
INDEX_PAGE = "index.html"
FIELD_PAGE = "field.html"
IMMUTABLE = "public, max-age=31536000, immutable"


def security_headers(tile_url: str = "", script_hashes: tuple[str, ...] = ()) -> dict[str, str]:
    """The headers of every console page; map tiles may come from tile_url's origin alone, inline
    scripts only with one of script_hashes."""
    parts = urlsplit(tile_url)
    tiles = f" {parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    scripts = "".join(f" {source}" for source in script_hashes)
    return {
        "content-security-policy": f"default-src 'self'; script-src 'self'{scripts}; style-src 'self'; "
                                   f"connect-src 'self'; img-src 'self' data: blob:{tiles}; "
                                   "media-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; "
                                   "form-action 'self'",
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
        "permissions-policy": "microphone=(self), camera=(), geolocation=()",
        "cache-control": "no-cache",
    }


@cache
def console_build(folder: Path) -> tuple[ConsoleAssets, dict[str, Page]]:
    """The console's hashed files and rendered pages (built once per process)."""
    assets = build_assets(folder)
    return assets, render_pages(folder, assets)


def accepts_gzip(headers: Headers) -> bool:
    """Whether the request's Accept-Encoding allows gzip."""
    return any(part.split(";")[0].strip() in ("gzip", "*") and "q=0" not in part.replace(" ", "")
               for part in headers.get("accept-encoding", "").split(","))


class ConsoleFiles(StaticFiles):
    """The console's pages and files, each answer with the console's security headers."""

    def __init__(self, tile_url: str = "") -> None:
        super().__init__(directory=FOLDER, html=True)
        self.assets, self.pages = console_build(FOLDER)
        self.headers = security_headers(tile_url, tuple({page.script_hash for page in self.pages.values()}))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a page or a hashed file from memory, any other file from the folder."""
        name = self.get_path(scope)  # "." for the folder itself
        request_headers = Headers(scope=scope)
        if name in (".", *self.pages):
            await self.page(INDEX_PAGE if name == "." else name, request_headers)(scope, receive, send)
        elif name in self.assets.by_hashed_name:
            await self.hashed_file(self.assets.by_hashed_name[name], request_headers)(scope, receive, send)
        else:
            await super().__call__(scope, receive, self.adding_headers(send))

    def page(self, name: str, request_headers: Headers) -> Response:
        """A page, compressed if the browser takes it; 304 if the browser has it already."""
        page = self.pages[name]
        headers = {**self.headers, "etag": page.etag, "vary": "accept-encoding"}
        if request_headers.get("if-none-match") == page.etag:
            return Response(status_code=304, headers=headers)
        return self.compressed(page.html, request_headers, headers)

    def hashed_file(self, asset: Asset, request_headers: Headers) -> Response:
        """A file by its hashed name: the same bytes for ever, so cached for a year."""
        headers = {**self.headers, "cache-control": IMMUTABLE, "vary": "accept-encoding"}
        return self.compressed(asset, request_headers, headers)

    @staticmethod
    def compressed(asset: Asset, request_headers: Headers, headers: dict[str, str]) -> Response:
        """The asset's gzip when it has one and the browser takes it, else its plain bytes."""
        if asset.gzipped is not None and accepts_gzip(request_headers):
            return Response(asset.gzipped, media_type=asset.media_type,
                            headers={**headers, "content-encoding": "gzip"})
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    def adding_headers(self, send: Send) -> Send:
        """send, with the console's headers added to the answer."""
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      *((k.encode(), v.encode()) for k, v in self.headers.items())]
            await send(message)

        return with_headers
