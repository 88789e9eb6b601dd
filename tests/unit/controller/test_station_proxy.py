"""A relay's every connection is checked: redirects and HLS segments cannot reach inside.

Real ffmpeg pulls from real HTTP servers on loopback: 127.0.0.2 stands for a public station (the
relay is allowed to reach it), 127.0.0.1 for the controller's own network (Redis, the broker's
admin port, a cloud's metadata service), which no relay may reach.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from controller.live.sources import SourceError
from controller.live.station_proxy import USER, StationProxy, station_pcm
from tests.testkit import HttpSite, self_signed

pytestmark = pytest.mark.unit

STATION = "127.0.0.2"
INSIDE = "127.0.0.1"
MP3 = {"Content-Type": "audio/mpeg"}
HLS = {"Content-Type": "application/vnd.apple.mpegurl"}
ALLOWED = [ipaddress.ip_network(f"{STATION}/32")]


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Two seconds of 1 kHz as MP3 and as an MPEG-TS segment."""
    folder = tmp_path_factory.mktemp("tone")
    made = {}
    formats = {"mp3": ["-c:a", "libmp3lame", "-f", "mp3"], "ts": ["-c:a", "aac", "-f", "mpegts"]}
    for name, args in formats.items():
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                        "sine=frequency=1000:duration=2", "-ac", "1", *args, str(folder / name)], check=True)
        made[name] = (folder / name).read_bytes()
    return made


@pytest.fixture
def sites() -> Iterator[list[HttpSite]]:
    made: list[HttpSite] = []
    yield made
    for site in made:
        site.close()


def pull(url: str, allowed: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = ALLOWED) -> bytes:
    """All the PCM a relay of url gives."""
    async def run() -> bytes:
        return b"".join([block async for block in station_pcm(url, allowed)])
    return asyncio.run(asyncio.wait_for(run(), 30))


def dominant_hz(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(float)
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * 48000 / len(samples))


def test_a_station_plays_through_the_check_and_a_redirect_on_its_own_host_is_followed(
        tone: dict[str, bytes], sites: list[HttpSite]) -> None:
    station = HttpSite(STATION, {"/tone.mp3": lambda: (200, MP3, tone["mp3"])})
    sites.append(station)
    station_pages = {"/moved": lambda: (302, {"Location": f"{station.url}/tone.mp3"}, b"")}
    moved = HttpSite(STATION, station_pages)
    sites.append(moved)
    pcm = pull(f"{moved.url}/moved")
    assert len(pcm) > 1.5 * 48000 * 2 and abs(dominant_hz(pcm) - 1000) < 10
    assert station.requests == ["/tone.mp3"]


def test_an_https_station_plays_through_the_tunnel(tone: dict[str, bytes], sites: list[HttpSite],
                                                  tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="controller.live.station_proxy")
    cert, key = self_signed(tmp_path, STATION)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    station = HttpSite(STATION, {"/tone.mp3": lambda: (200, MP3, tone["mp3"])}, tls)
    sites.append(station)
    pcm = pull(f"{station.url}/tone.mp3")
    assert abs(dominant_hz(pcm) - 1000) < 10 and station.requests == ["/tone.mp3"]
    assert f"CONNECT to {STATION}:{station.server.server_port}" in caplog.text, "ffmpeg went around the proxy"


def test_a_redirect_into_the_controllers_network_is_refused_before_it_connects(
        tone: dict[str, bytes], sites: list[HttpSite]) -> None:
    inside = HttpSite(INSIDE, {"/secret.mp3": lambda: (200, MP3, tone["mp3"])})
    station = HttpSite(STATION, {"/radio": lambda: (302, {"Location": f"{inside.url}/secret.mp3"}, b"")})
    sites += [inside, station]
    with pytest.raises(SourceError, match=r"127\.0\.0\.1, a private or local address"):
        pull(f"{station.url}/radio")
    assert station.requests == ["/radio"] and inside.requests == []


def test_an_hls_segment_inside_is_refused_before_it_connects(
        tone: dict[str, bytes], sites: list[HttpSite]) -> None:
    inside = HttpSite(INSIDE, {"/seg0.ts": lambda: (200, {"Content-Type": "video/mp2t"}, tone["ts"])})
    playlist = (f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
                f"#EXTINF:2.0,\n{inside.url}/seg0.ts\n#EXT-X-ENDLIST\n").encode()
    station = HttpSite(STATION, {"/live.m3u8": lambda: (200, HLS, playlist)})
    sites += [inside, station]
    with pytest.raises(SourceError, match="private or local"):
        pull(f"{station.url}/live.m3u8")
    assert station.requests == ["/live.m3u8"] and inside.requests == []


def test_the_proxy_tunnels_nothing_inside_and_answers_only_its_relay(sites: list[HttpSite]) -> None:
    inside = HttpSite(INSIDE, {})
    sites.append(inside)
    port = inside.server.server_port

    async def ask(proxy: StationProxy, authorised: bool) -> bytes:
        proxy_port = int(proxy.url.rsplit(":", 1)[1].strip("/"))
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
        secret = base64.b64encode(f"{USER}:{proxy.secret}".encode()).decode() if authorised else "eA=="
        writer.write(f"CONNECT {INSIDE}:{port} HTTP/1.1\r\nHost: {INSIDE}:{port}\r\n"
                     f"Proxy-Authorization: Basic {secret}\r\n\r\n".encode())
        answer = await reader.readline()
        writer.close()
        return answer

    async def both() -> tuple[bytes, bytes]:
        async with StationProxy(ALLOWED) as proxy:
            return await ask(proxy, True), await ask(proxy, False)
    refused, unauthorised = asyncio.run(both())
    assert refused.startswith(b"HTTP/1.1 403") and unauthorised.startswith(b"HTTP/1.1 407")
    assert inside.requests == []


def test_the_station_check_before_the_start_still_names_the_reason(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="private or local"):
        pull(f"http://{INSIDE}:9/live")
