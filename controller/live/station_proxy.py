"""Every connection a relay makes passes one check: a forward proxy on loopback for its ffmpeg.

ffmpeg follows HTTP redirects and fetches the segments an HLS playlist names by itself, so checking
the station's own URL is not enough: a station that answers with a redirect to 127.0.0.1, or a
playlist whose segments sit on the office LAN, would reach inside. So each relay's ffmpeg is given a
proxy of its own (`-http_proxy`), and the proxy opens every connection itself: it resolves the host,
refuses it when any of its addresses is one a relay may not reach (stations.checked_address), and
connects to the address it checked, so a name cannot point elsewhere in between. A plain HTTP
request comes in absolute form and goes on in origin form; HTTPS comes as CONNECT and is tunnelled,
so the station's certificate is still checked by ffmpeg. The proxy listens on loopback only, for the
lifetime of one relay, and answers only requests that carry its secret.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from .sources import SourceError, relay_pcm
from .stations import Network, check_station, checked_address

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16_384
HEAD_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 10.0
COPY_BYTES = 65_536
USER = "relay"
_DROPPED_HEADERS = (b"proxy-authorization", b"proxy-connection", b"connection", b"keep-alive")


class Refusal(SourceError):
    """A connection the relay may not make; the message says where it would have gone."""


class StationProxy:
    """A forward proxy for one relay's ffmpeg; refused connections are kept to tell why it failed."""

    def __init__(self, allowed: list[Network]) -> None:
        self.allowed = allowed
        self.secret = secrets.token_urlsafe(18)
        self.refused: list[str] = []
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> StationProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=MAX_HEAD_BYTES)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    @property
    def url(self) -> str:
        """The proxy as ffmpeg's http_proxy option wants it, with the secret."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://{USER}:{self.secret}@127.0.0.1:{port}/"

    async def _serve(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            await self._relay_one(client_reader, client)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            pass  # a broken or hostile request: its connection simply ends
        except asyncio.CancelledError:
            pass  # the relay ended: the connection ends with it (the task is the connection's own)
        finally:
            self._pipes.discard(task)
            client.close()

    async def _relay_one(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        async with asyncio.timeout(HEAD_TIMEOUT_S):
            head = await client_reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head[:-4].split(b"\r\n")
        method, target, version = request_line.decode("latin-1").split(" ")
        headers = [line for line in header_lines if line]
        if not self._authorised(headers):
            client.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                         b"Proxy-Authenticate: Basic realm=\"relay\"\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")
            return
        host, port, forward = _destination(method, target, version, headers)
        try:
            address = await checked_address(host, port, self.allowed)
        except SourceError as exc:
            self._refuse(str(exc), client)
            return
        log.debug("relay: %s to %s:%s (%s)", method, host[:100], port, address)
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            upstream_reader, upstream = await asyncio.open_connection(str(address), port)
        try:
            if forward is None:
                client.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                upstream.write(forward)
            await _both_ways(client_reader, client, upstream_reader, upstream)
        finally:
            upstream.close()

    def _authorised(self, headers: list[bytes]) -> bool:
        expected = b"basic " + base64.b64encode(f"{USER}:{self.secret}".encode())
        given = [line.split(b":", 1)[1].strip().lower() for line in headers
                 if line.lower().startswith(b"proxy-authorization:")]
        return len(given) == 1 and secrets.compare_digest(given[0], expected.lower())

    def _refuse(self, reason: str, client: asyncio.StreamWriter) -> None:
        if len(self.refused) < 10:
            self.refused.append(reason)
        log.warning("relay: a connection refused: %s", reason)
        client.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def _destination(method: str, target: str, version: str,
                 headers: list[bytes]) -> tuple[str, int, bytes | None]:
    """Where a request goes: host, port and, for plain HTTP, the request to send there (None for a
    CONNECT tunnel). ValueError for anything else."""
    if method == "CONNECT":
        host, _, port = target.rpartition(":")
        return host.strip("[]"), _port(port), None
    parts = urlsplit(target)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError("only http:// requests in absolute form and CONNECT are proxied")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kept = [line for line in headers if line.split(b":", 1)[0].strip().lower() not in _DROPPED_HEADERS]
    request = b"\r\n".join([f"{method} {path} {version}".encode("latin-1"), *kept, b"Connection: close"])
    return parts.hostname, parts.port or 80, request + b"\r\n\r\n"


def _port(text: str) -> int:
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError("port out of range")
    return port


async def _both_ways(client_reader: asyncio.StreamReader, client: asyncio.StreamWriter,
                     upstream_reader: asyncio.StreamReader, upstream: asyncio.StreamWriter) -> None:
    """Copy each way until either side is done (a station that closes ends the exchange)."""
    copies = [asyncio.create_task(_copy(client_reader, upstream)),
              asyncio.create_task(_copy(upstream_reader, client))]
    try:
        await asyncio.wait(copies, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for copy in copies:
            copy.cancel()
        await asyncio.gather(*copies, return_exceptions=True)


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while block := await reader.read(COPY_BYTES):
            writer.write(block)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


async def station_pcm(url: str, allowed: list[Network]) -> AsyncIterator[bytes]:
    """The station's audio as PCM blocks, every connection checked (SourceError when one is refused)."""
    await check_station(url, allowed)
    async with StationProxy(allowed) as proxy:
        try:
            async for block in relay_pcm(url, proxy.url):
                yield block
        except SourceError:
            raise
        except Exception:
            if proxy.refused:
                raise Refusal(proxy.refused[0]) from None
            raise
        if proxy.refused:
            raise Refusal(proxy.refused[0])
