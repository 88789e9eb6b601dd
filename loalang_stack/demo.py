"""`make demo`: the whole system on this machine.

Starts the project's own Mosquitto and Redis, the controller on http://127.0.0.1:8000 and
three simulated receivers in two villages of one commune, enrolled the way a real device
is; the commune's and villages' outlines (demo_outlines.geojson) are imported for the map. Ports
come from LOALANG_HTTP_PORT, LOALANG_MQTT_PORT and LOALANG_REDIS_PORT; state lives in data/demo
(delete it to start afresh). Ctrl-C stops everything that was started.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from .ports import PortTaken, port_from_env
from .stack import LocalStack

log = logging.getLogger("demo")

DEMO_DIR = Path(os.environ.get("LOALANG_DEMO_DIR", "data/demo"))
AREAS = [
    ("tinh-nghe-an", "Tỉnh Nghệ An", "province", None, 18.67, 105.69),
    ("xa-hoa-binh", "Xã Hòa Bình", "commune", "tinh-nghe-an", 18.70, 105.60),
    ("thon-dong", "Thôn Đông", "village", "xa-hoa-binh", 18.705, 105.595),
    ("thon-doai", "Thôn Đoài", "village", "xa-hoa-binh", 18.695, 105.605),
]
OUTLINES = Path(__file__).with_name("demo_outlines.geojson")
APPROVAL_REQUIRED = "thon-doai"  # bulletins for Thôn Đoài wait for the approver: the flow can be tried
# The commune office's people (user name, role, full name): one password for all, printed at start.
USERS = [
    ("canbo", "operator", "Cán bộ đài xã"),
    ("duyet", "approver", "Phó chủ tịch xã (duyệt bản tin)"),
    ("kythuat", "technician", "Kỹ thuật viên"),
]


def _api(url: str, path: str, token: str | None = None, body: dict[str, Any] | None = None,
         form: dict[str, str] | None = None, geojson: bytes | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if geojson is not None:  # sent as it is, by PUT
        data = geojson
        headers["Content-Type"] = "application/geo+json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    method = "PUT" if geojson is not None else None
    request = urllib.request.Request(url + path, data=data, headers=headers, method=method)  # noqa: S310
    with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
        return json.loads(response.read())


def _admin_token(url: str, password: str) -> str:
    answer = _api(url, "/api/v1/auth/token", form={"username": "admin", "password": password})
    return str(answer["access_token"])


def create_areas(url: str, password: str) -> None:
    """The demo's province, commune and two villages, unless they exist, and their outlines for the map."""
    token = _admin_token(url, password)
    existing = {area["id"] for area in _api(url, "/api/v1/areas", token)}
    for area_id, name, level, parent, lat, lon in AREAS:
        if area_id not in existing:
            approval = "required" if area_id == APPROVAL_REQUIRED else None
            _api(url, "/api/v1/areas", token, {"id": area_id, "name": name, "level": level,
                                              "parent_id": parent, "latitude": lat, "longitude": lon,
                                              "approval": approval})
    _api(url, "/api/v1/areas/outlines", token, geojson=OUTLINES.read_bytes())


def create_users(url: str, admin_password: str, password: str) -> None:
    """The commune's operator, approver and technician, unless they exist."""
    token = _admin_token(url, admin_password)
    existing = {user["username"] for user in _api(url, "/api/v1/users", token)}
    for username, role, full_name in USERS:
        if username not in existing:
            _api(url, "/api/v1/users", token, {"username": username, "password": password, "role": role,
                                              "area_id": "xa-hoa-binh", "full_name": full_name})


def running_text(url: str, admin_password: str, users_password: str) -> str:
    """What the demo prints once everything runs: where to go, who to be, where to listen."""
    people = "".join(f"            {name} / {users_password}  ({role} of Xã Hòa Bình)\n"
                     for name, role, _ in USERS)
    return (f"\nloalang is running.\n  console:  {url}\n  API docs: {url}/docs\n"
            f"  login:    admin / {admin_password}\n{people}"
            f"  listen:   {DEMO_DIR}/receivers/sim-N/card/card.wav (what each receiver played);\n"
            f"            receiver-agent card {DEMO_DIR}/receivers/sim-1/card lists when each play began\n"
            f"  logs:     {DEMO_DIR}/*.log, {DEMO_DIR}/*/*.log\n"
            "Press Ctrl-C to stop everything.\n")


def main() -> int:
    """Run the demo until Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        http_port = port_from_env("LOALANG_HTTP_PORT", 8000)
        mqtt_port = port_from_env("LOALANG_MQTT_PORT", 1883)
        redis_port = port_from_env("LOALANG_REDIS_PORT", 6379)
    except PortTaken as exc:
        print(f"cannot start the demo: {exc}", file=sys.stderr)
        return 2
    password = os.environ.get("LOALANG_ADMIN_PASSWORD", "admin")
    users_password = os.environ.get("LOALANG_DEMO_USERS_PASSWORD", "loalang-demo")
    try:
        with LocalStack(DEMO_DIR) as stack:  # stops everything it started, also on an error
            stack.start_broker(mqtt_port)
            # a fresh Redis password each run: the demo's Redis keeps nothing
            stack.start_redis(redis_port, password=secrets.token_urlsafe(24))
            controller = stack.start_controller({
                "LOALANG_ENVIRONMENT": "demo", "LOALANG_ADMIN_PASSWORD": password,
                "LOALANG_DEVICE_KEEPALIVE_S": "30",
            }, http_port)
            create_areas(controller.url, password)
            create_users(controller.url, password, users_password)
            stack.start_simulator(3, ["thon-dong", "thon-doai"], password,
                                  ["--telemetry-interval", "10"])
            print(running_text(controller.url, password, users_password), flush=True)
            stop = threading.Event()
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: stop.set())
            stop.wait()
            print("stopping...", flush=True)
    except (RuntimeError, OSError, urllib.error.URLError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
