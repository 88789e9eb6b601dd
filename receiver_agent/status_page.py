"""A small read-only status page on a local address, for a technician's phone at the pole.

Off unless `status_page` is set in the configuration (for example "0.0.0.0:8080" on the board's
Ethernet or Wi-Fi). It answers GET / (HTML) and GET /status.json, nothing else, and never
shows a secret.
"""

from __future__ import annotations

import asyncio
import html
import logging
from typing import Any

from .config import AgentConfig
from .status import collect, render_json, render_text

log = logging.getLogger(__name__)
MAX_REQUEST_BYTES = 4096


def _page(status: dict[str, Any]) -> str:
    text = html.escape(render_text(status))
    return ("<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(status['device_id'])}</title>"
            "<style>body{font:16px/1.4 system-ui,sans-serif;margin:12px}pre{white-space:pre-wrap}</style>"
            f"</head><body><h1>{html.escape(status['device_id'])}</h1><pre>{text}</pre></body></html>")


async def _handle(config: AgentConfig, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        async with asyncio.timeout(5):
            request = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
        writer.close()
        return
    first = request.split(b"\r\n", 1)[0].decode("latin-1").split()
    path = first[1] if len(first) == 3 and first[0] == "GET" else None
    if path == "/status.json":
        status, body, kind = 200, render_json(collect(config)), "application/json"
    elif path == "/":
        status, body, kind = 200, _page(collect(config)), "text/html; charset=utf-8"
    else:
        status, body, kind = 404, "not found\n", "text/plain"
    data = body.encode()
    reason = "OK" if status == 200 else "Not Found"
    writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {len(data)}\r\n"
                 "Cache-Control: no-store\r\nConnection: close\r\n\r\n".encode() + data)
    try:
        await writer.drain()
    finally:
        writer.close()


async def serve(config: AgentConfig) -> None:
    """Serve until cancelled (returns at once when the page is off)."""
    if not config.status_page:
        return
    host, _, port = config.status_page.rpartition(":")
    server = await asyncio.start_server(lambda r, w: _handle(config, r, w), host or "127.0.0.1", int(port),
                                        limit=MAX_REQUEST_BYTES)
    log.info("device %s: status page on http://%s", config.device_id, config.status_page)
    async with server:
        await server.serve_forever()
