"""`make demo`: the whole system on this machine.

Starts the project's own broker and Redis, the controller on http://127.0.0.1:8000 and
three simulated receivers in two villages of one commune, enrolled the way a real device
is; the commune's and villages' outlines (demo_outlines.geojson) are imported for the map. Ports
come from LOALANG_HTTP_PORT, LOALANG_MQTT_PORT and LOALANG_REDIS_PORT. Ctrl-C stops everything that
was started.

The broker is Mosquitto, or with LOALANG_BROKER=nats a three-node NATS cluster from broker/nats/
(its nodes' MQTT ports are LOALANG_MQTT_PORT and the two after it). State lives in data/demo, or
data/demo-nats for the cluster (delete it to start afresh; LOALANG_DEMO_DIR names another folder):
a later run reuses the receivers' enrolments and the cluster's trust set and JetStream stores.
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

from .ports import PortTaken, port_from_env, ports_from_env
from .stack import LocalStack

log = logging.getLogger("demo")

# The brokers the demo runs (LOALANG_BROKER) and where each keeps its state by default: a receiver
# enrolled on one broker has no account on the other.
DEMO_DIRS = {"mosquitto": "data/demo", "nats": "data/demo-nats"}
# The folder each broker's state takes in the demo's folder (LocalStack's layout).
BROKER_STATE = {"mosquitto": "broker", "nats": "nats"}
NATS_NODES = 3
# How long the nodes may take to become healthy: nodes restarted on their JetStream stores elect each
# stream's leader again first, which took 6 to 30 s on a busy two-core machine (new nodes: 1 s).
NATS_START_S = 90.0
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


class DemoRefused(RuntimeError):
    """The demo cannot start as configured (an unknown broker, a taken port, another broker's state)."""


def broker_kind() -> str:
    """The broker LOALANG_BROKER names: mosquitto (the default) or nats."""
    kind = os.environ.get("LOALANG_BROKER", "").strip().lower() or "mosquitto"
    if kind not in DEMO_DIRS:
        raise DemoRefused(f"LOALANG_BROKER={kind!r} is not a broker the demo runs: "
                          f"use {' or '.join(DEMO_DIRS)} (unset means mosquitto)")
    return kind


def demo_dir(kind: str) -> Path:
    """Where the demo on this broker keeps its state (LOALANG_DEMO_DIR, else the broker's default)."""
    return Path(os.environ.get("LOALANG_DEMO_DIR") or DEMO_DIRS[kind])


def check_demo_dir(folder: Path, kind: str) -> None:
    """Refuse a folder that a demo on the other broker left: its receivers have no account on this one."""
    for other, state in BROKER_STATE.items():
        if other != kind and (folder / state).exists():
            raise DemoRefused(f"{folder} holds the state of a demo on {other}, whose receivers have no "
                              f"account on {kind}: delete it or set LOALANG_DEMO_DIR to another folder")


def mqtt_ports(kind: str) -> list[int]:
    """The broker's MQTT ports: Mosquitto's, or one per NATS node from LOALANG_MQTT_PORT on."""
    return ports_from_env("LOALANG_MQTT_PORT", 1883, NATS_NODES if kind == "nats" else 1)


def start_broker(stack: LocalStack, kind: str, ports: list[int]) -> str:
    """Start the chosen broker on ports; returns what the demo says about it."""
    if kind == "nats":
        log.info("starting %s NATS nodes; on kept state they elect JetStream's leaders first (up to a "
                 "minute)", len(ports))
        stack.start_nats_cluster(len(ports), timeout=NATS_START_S, mqtt_ports=ports)
        return f"NATS cluster of {len(ports)} nodes, MQTT ports {', '.join(map(str, ports))}"
    stack.start_broker(ports[0])
    return f"Mosquitto, MQTT port {ports[0]}"


def device_broker_settings(stack: LocalStack) -> dict[str, str]:
    """The controller's settings that give enrolling devices the broker: on the cluster, every node's
    MQTT address (each receiver connects to one at random and moves to another on failure)."""
    if stack.nats is None:
        return {}
    return {"LOALANG_DEVICE_MQTT_ADDRESSES": stack.nats.mqtt_addresses}


def running_text(url: str, admin_password: str, users_password: str, folder: Path, broker: str) -> str:
    """What the demo prints once everything runs: where to go, who to be, where to listen, which
    broker carries the messages."""
    people = "".join(f"            {name} / {users_password}  ({role} of Xã Hòa Bình)\n"
                     for name, role, _ in USERS)
    return (f"\nloalang is running.\n  console:  {url}\n  API docs: {url}/docs\n"
            f"  login:    admin / {admin_password}\n{people}"
            f"  listen:   {folder}/receivers/sim-N/card/card.wav (what each receiver played);\n"
            f"            receiver-agent card {folder}/receivers/sim-1/card lists when each play began\n"
            f"  broker:   {broker}\n"
            f"  logs:     {folder}/*.log, {folder}/*/*.log\n"
            "Press Ctrl-C to stop everything.\n")


def main() -> int:
    """Run the demo until Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        kind = broker_kind()
        http_port = port_from_env("LOALANG_HTTP_PORT", 8000)
        broker_ports = mqtt_ports(kind)
        redis_port = port_from_env("LOALANG_REDIS_PORT", 6379)
        folder = demo_dir(kind)
        check_demo_dir(folder, kind)
    except (DemoRefused, PortTaken) as exc:
        print(f"cannot start the demo: {exc}", file=sys.stderr)
        return 2
    password = os.environ.get("LOALANG_ADMIN_PASSWORD", "admin")
    users_password = os.environ.get("LOALANG_DEMO_USERS_PASSWORD", "loalang-demo")
    try:
        with LocalStack(folder) as stack:  # stops everything it started, also on an error
            broker = start_broker(stack, kind, broker_ports)
            # a fresh Redis password each run: the demo's Redis keeps nothing
            stack.start_redis(redis_port, password=secrets.token_urlsafe(24))
            controller = stack.start_controller({
                "LOALANG_ENVIRONMENT": "demo", "LOALANG_ADMIN_PASSWORD": password,
                "LOALANG_DEVICE_KEEPALIVE_S": "30", **device_broker_settings(stack),
            }, http_port)
            create_areas(controller.url, password)
            create_users(controller.url, password, users_password)
            stack.start_simulator(3, ["thon-dong", "thon-doai"], password,
                                  ["--telemetry-interval", "10"])
            print(running_text(controller.url, password, users_password, folder, broker), flush=True)
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
