"""A device's log upload is signed body and all: the same signed headers with another body, as a
machine on the path would send them, are refused with a stable code, and the real upload is kept."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiver_agent import config as config_file
from tests.testkit import Fleet, wait_for

pytestmark = pytest.mark.e2e

FORWARDED = ("content-type", "range", "x-loa-device", "x-loa-time", "x-loa-content-sha256", "x-loa-signature")


@dataclass
class Captured:
    """A request as it passed on the way to the controller."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@contextmanager
def on_the_path(controller_url: str) -> Iterator[tuple[str, list[Captured]]]:
    """An HTTP relay between a device and the controller that keeps a copy of every request it
    forwards; yields its URL and the copies."""
    captured: list[Captured] = []

    class Relay(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._forward()

        def do_POST(self) -> None:
            self._forward()

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() in FORWARDED}
            captured.append(Captured(self.command, self.path, headers, body))
            answer = httpx.request(self.command, controller_url + self.path, headers=headers, content=body)
            self.send_response(answer.status_code)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", captured
    finally:
        server.shutdown()
        server.server_close()


def upload_logs(fleet: Fleet, device_id: str) -> dict[str, Any]:
    """Ask the device to upload its log; its reply."""
    response = fleet.http.post(f"/api/v1/devices/{device_id}/commands", json={"name": "upload-logs"})
    response.raise_for_status()
    path = f"/api/v1/devices/{device_id}/commands/{response.json()['command_id']}"
    reply: dict[str, Any] = wait_for(lambda: (r := fleet.http.get(path)).status_code == 200 and r.json(),
                                     15.0, what="the reply to upload-logs")
    return reply


def through(config: Path, relay_url: str) -> None:
    """Point the agent's requests to the controller at the relay."""
    settings = config_file.load(config)
    config_file.save(settings.model_copy(update={"controller_url": relay_url}), config)


def test_a_log_upload_changed_on_the_way_is_refused(fleet: Fleet) -> None:
    device_id, config = fleet.enrolled_agent(area="thon-b")
    with on_the_path(fleet.controller.url) as (relay_url, captured):
        through(config, relay_url)
        fleet.start(config)
        wait_for(lambda: fleet.online(device_id), 10.0, what="online")
        reply = upload_logs(fleet, device_id)
    assert reply["ok"], reply
    logs = fleet.http.get(f"/api/v1/devices/{device_id}/logs").json()
    kept = fleet.http.get(f"/api/v1/devices/{device_id}/logs/{logs[0]}").text
    assert len(logs) == 1 and f"device {device_id}: agent" in kept, "the real upload is kept"
    upload = next(c for c in captured if c.method == "POST" and c.path.endswith("/logs"))
    forged = httpx.post(fleet.controller.url + upload.path, headers=upload.headers,
                        content=b"2026-01-01 everything is fine, nothing to see\n")
    assert forged.status_code == 403, forged.text
    assert forged.json()["code"] == "body_hash_mismatch"
    assert fleet.http.get(f"/api/v1/devices/{device_id}/logs").json() == logs, "nothing else stored"
