"""The deployment a province runs, end to end, as docs/operations.md ("Without Docker") says.

The controller's settings and Caddy's are read from docs/operations.md, with the documented
machine's names, ports, folders and secrets replaced by this test's, so the docs cannot drift from
what works. Nothing here is in test mode: the controller runs in production (real secrets, Redis
with a password, the root key kept off the controller: the key ceremony is done in a folder the
controller never sees), behind Debian's Caddy with the project's own Caddyfile and a certificate
from the province's own CA (made with broker/make-tls.sh), and Mosquitto has a TLS listener for
devices with a certificate from another CA of the province. A real `receiver-agent` enrols over
HTTPS with a claim code, trusting the console's CA with --ca-file, connects over TLS with its own
device account, downloads a bulletin through the proxy and plays it on its card. The same board
refuses a broker whose certificate another CA signed, before it sends its password.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from loalang_stack.ports import free_port, wait_for_port
from loalang_stack.process import Server
from loalang_stack.services import ControllerProcess, agent_process
from loalang_stack.stack import LocalStack
from receiver_agent import config as config_file
from tests.testkit import (
    BIN,
    dominant_frequencies,
    make_tls,
    quiet_hours_away_from_now,
    upload_media,
    wait_for,
    write_steps_wav,
)

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1"
TONE_HZ = 1000


def key_ceremony(offline: Path, controller_keys: Path) -> None:
    """Make the keys in a folder the controller never sees; install only the public root, the
    signing key and its certificate, with the modes docs/operations.md gives."""
    subprocess.run([str(BIN / "radio-controller"), "keys", "init", "--dir", str(offline)], check=True,
                   capture_output=True, text=True, timeout=60)
    controller_keys.mkdir(parents=True, mode=0o700)
    for name, mode in (("root.pub", 0o644), ("signing.cert.json", 0o644), ("signing.key", 0o600)):
        shutil.copyfile(offline / name, controller_keys / name)
        (controller_keys / name).chmod(mode)


OPERATIONS = ROOT / "docs" / "operations.md"


def documented_settings(start: str, end: str, line: str) -> dict[str, str]:
    """The NAME=value settings docs/operations.md gives between start and end, each line matching line
    (a regular expression with the groups name and value)."""
    text = OPERATIONS.read_text()
    block = text[text.index(start):]
    block = block[:block.index(end)]
    return {m["name"]: m["value"] for m in re.finditer(line, block, re.MULTILINE)}


def on_this_machine(settings: dict[str, str], places: dict[str, str]) -> dict[str, str]:
    """The documented settings with the documented machine's names, ports, folders and secrets
    replaced by this test's: a whole value (a port) or a part of one (longest first, so that a URL
    goes before its host name)."""
    def local(value: str) -> str:
        if value in places:
            return places[value]
        for documented in sorted(places, key=len, reverse=True):
            if not documented.isdigit():  # a bare port only as a whole value
                value = value.replace(documented, places[documented])
        return value
    return {name: local(value) for name, value in settings.items()}


def controller_settings(places: dict[str, str]) -> dict[str, str]:
    """/etc/loalang/controller.env as docs/operations.md writes it, on this machine."""
    documented = documented_settings("cat > /etc/loalang/controller.env <<EOF", "\nEOF\n",
                                     r"^(?P<name>LOALANG_[A-Z_]+)=(?P<value>.*)$")
    assert documented.get("LOALANG_ENVIRONMENT") == "production", documented
    return on_this_machine(documented, places)


def proxy_settings(places: dict[str, str]) -> dict[str, str]:
    """Caddy's systemd drop-in as docs/operations.md gives it, on this machine."""
    documented = documented_settings("The drop-in:", "Then `systemctl restart caddy`",
                                     r"^Environment=(?P<name>LOALANG_[A-Z_]+)=(?P<value>.*)$")
    return on_this_machine(documented, places)


@dataclass
class Province:
    """The running deployment: its console's URL and CA, and an admin's client through the proxy."""

    url: str
    console_ca: Path
    http: httpx.Client
    root: Path
    broker_ca: Path
    broker_tls_port: int


def start_proxy(folder: Path, settings: dict[str, str], port: int) -> Server:
    """Caddy with proxy/Caddyfile, configured by the documented variables; on free ports here (the
    docs keep Caddy's defaults: 443, 80 and its admin endpoint)."""
    env = {**os.environ, "HOME": str(folder), "XDG_DATA_HOME": str(folder / "data"),
           "XDG_CONFIG_HOME": str(folder / "config"), **settings,
           "LOALANG_CONSOLE_PORT": str(port), "LOALANG_PROXY_HTTP_PORT": str(free_port()),
           "LOALANG_PROXY_ADMIN": f"127.0.0.1:{free_port()}"}
    proxy = Server("caddy", [shutil.which("caddy") or "/usr/bin/caddy", "run", "--adapter", "caddyfile",
                             "--config", str(ROOT / "proxy" / "Caddyfile")], folder / "caddy.log", env)
    proxy.start()
    try:
        wait_for_port("127.0.0.1", port, timeout=20)
    except TimeoutError:
        proxy.stop()
        raise RuntimeError(f"caddy did not start:\n{proxy.tail()}") from None
    return proxy


@pytest.fixture
def province(tmp_path: Path) -> Iterator[Province]:
    broker_tls, console_tls = tmp_path / "broker-tls", tmp_path / "console-tls"
    for folder in (broker_tls, console_tls):
        made = make_tls(folder, "localhost", "127.0.0.1")
        assert made.returncode == 0, made.stderr
    shutil.copyfile(console_tls / "server.crt", console_tls / "console.crt")
    shutil.copyfile(console_tls / "server.key", console_tls / "console.key")
    with LocalStack(tmp_path / "servers") as servers:
        tls_port = free_port()
        servers.start_broker(tls_port=tls_port, tls_dir=broker_tls)
        servers.start_redis(password=secrets.token_hex(16))
        data_dir = tmp_path / "controller"
        key_ceremony(tmp_path / "offline-keys", data_dir / "keys")
        https_port, http_port, admin_password = free_port(), free_port(), secrets.token_hex(16)
        url = f"https://localhost:{https_port}"
        assert servers.broker_config is not None and servers.redis_password is not None
        places = {  # the documented machine's names, ports, folders and secrets, and this test's
            "https://radio.example.vn": url, "radio.example.vn": "localhost", "8883": str(tls_port),
            "1883": str(servers.mqtt_port), ":6379": f":{servers.redis_port}",
            "127.0.0.1:8000": f"127.0.0.1:{http_port}", "8000": str(http_port),
            "/etc/loalang/broker-tls": str(broker_tls), "/etc/loalang/console-tls": str(console_tls),
            "/etc/loalang/mqtt-password": str(servers.broker_config.password_file),
            "/var/lib/loalang/controller": str(data_dir), "$REDIS_PASSWORD": servers.redis_password,
            "$(openssl rand -hex 16)": admin_password}
        settings = controller_settings(places)
        controller = ControllerProcess(data_dir, http_port, settings)
        controller.start()
        proxy = start_proxy(tmp_path / "proxy", proxy_settings(places), https_port)
        try:
            trust = ssl.create_default_context(cafile=console_tls / "ca.crt")
            token = httpx.post(f"{url}{API}/auth/token", verify=trust, timeout=30,
                               data={"username": "admin", "password": admin_password})
            assert token.status_code == 200, token.text
            http = httpx.Client(base_url=url, verify=trust, timeout=30,
                                headers={"Authorization": f"Bearer {token.json()['access_token']}"})
            yield Province(url, console_tls / "ca.crt", http, tmp_path, broker_tls / "ca.crt", tls_port)
            http.close()
        finally:
            proxy.stop()
            controller.stop()


def add_village(province: Province) -> str:
    for body in ({"id": "tinh-that", "name": "Tỉnh", "level": "province", "parent_id": None,
                  **quiet_hours_away_from_now()},
                 {"id": "xa-that", "name": "Xã", "level": "commune", "parent_id": "tinh-that"},
                 {"id": "thon-that", "name": "Thôn", "level": "village", "parent_id": "xa-that"}):
        created = province.http.post(f"{API}/areas", json=body)
        assert created.status_code == 201, created.text
    return "thon-that"


def register(province: Province, village: str) -> tuple[str, str]:
    """A device registered as an admin does it; returns its id and claim code."""
    created = province.http.post(f"{API}/devices", json={"id": "loa-that-1", "name": "Cụm loa chợ",
                                                         "area_id": village})
    assert created.status_code == 201, created.text
    return "loa-that-1", created.json()["claim"]["claim_code"]


def enroll(province: Province, code: str, board: Path, *,
           ca_file: bool = True) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "receiver-agent"), "enroll", "--controller", province.url, "--code", code,
               "--config", str(board / "agent.toml"), "--data-dir", str(board / "data")]
    if ca_file:
        command += ["--ca-file", str(province.console_ca)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def tone_heard(card: Path) -> list[float]:
    """When the card played the bulletin's tone (a tenth of a second each)."""
    return [at for at, frequency in dominant_frequencies(card) if abs(frequency - TONE_HZ) < 30]


def test_a_board_enrols_over_https_connects_over_tls_with_its_own_account_and_plays(
        province: Province, tmp_path: Path) -> None:
    device_id, code = register(province, add_village(province))
    board = tmp_path / "board"
    refused = enroll(province, code, board, ca_file=False)
    assert refused.returncode == 2 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr, refused.stderr
    enrolled = enroll(province, code, board)
    assert enrolled.returncode == 0, enrolled.stderr
    config = config_file.load(board / "agent.toml")
    assert config.broker.username == f"dev-{device_id}", "its own account, not the controller's"
    assert config.broker.port == province.broker_tls_port and config.broker.tls_ca_file is not None
    assert Path(config.broker.tls_ca_file).read_text() == province.broker_ca.read_text()
    assert config.controller_url == province.url and config.controller_ca_file is not None

    agent = agent_process(board / "agent.toml", board / "agent.log")
    agent.start()
    try:
        wait_for(lambda: province.http.get(f"{API}/devices/{device_id}").json()["online"], 30.0,
                 what="the board online over TLS")
        sha, _ = upload_media(SimpleNamespace(http=province.http),  # type: ignore[arg-type]
                              write_steps_wav(tmp_path / "tone.wav", [TONE_HZ], step_s=2.0))
        sent = province.http.post(f"{API}/broadcasts", json={
            "level": "normal", "media_sha256": sha, "area_ids": ["thon-that"]})
        assert sent.status_code == 201, sent.text
        wait_for(lambda: len(tone_heard(config.data_dir / "card")) >= 15, 40.0,
                 what="the bulletin (2 s of its tone) on the card")
    finally:
        agent.stop()
    log = (board / "agent.log").read_text()
    assert f"connected to localhost:{config.broker.port}" in log, log[-2000:]


def test_a_board_refuses_a_broker_whose_certificate_another_ca_signed(
        province: Province, tmp_path: Path) -> None:
    device_id, code = register(province, add_village(province))
    board = tmp_path / "board"
    assert enroll(province, code, board).returncode == 0
    impostor_tls = tmp_path / "impostor-tls"
    assert make_tls(impostor_tls, "localhost", "127.0.0.1").returncode == 0
    with LocalStack(tmp_path / "impostor") as impostor:
        impostor.start_broker(tls_port=(impostor_port := free_port()), tls_dir=impostor_tls)
        config = config_file.load(board / "agent.toml")
        config_file.save(config.model_copy(update={"broker": config.broker.model_copy(
            update={"port": impostor_port})}), board / "agent.toml")
        agent = agent_process(board / "agent.toml", board / "agent.log")
        agent.start()
        try:
            wait_for(lambda: "certificate verify failed" in (board / "agent.log").read_text(), 30.0,
                     what="the board refusing the impostor's certificate")
        finally:
            agent.stop()
        assert impostor.broker is not None
        broker_log = impostor.broker.log_file.read_text()
        assert device_id not in broker_log, "the board never logged in to the impostor"
    assert not province.http.get(f"{API}/devices/{device_id}").json()["online"]
