"""MQTT over TLS: material from broker/make-tls.sh, a Mosquitto with a TLS listener, real clients.

The broker here is a separate one (its own ports and folder), started for this module only;
the session's broker and controller are not used.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from controller.fleet.broker_endpoint import (
    MAX_CA_PEM_BYTES,
    BrokerEndpointError,
    device_broker_port,
    device_ca_pem,
    device_tls_ca_file,
)
from controller.settings import Settings
from loalang_protocol import claim_code
from loalang_protocol.keys import KeyPair
from loalang_protocol.mqtt import LinkSettings, MqttLink
from loalang_stack import broker
from loalang_stack.broker import CONTROLLER_USERNAME, BrokerConfig, render_config
from loalang_stack.ports import free_port
from receiver_agent import config as config_file
from receiver_agent.enrolment import BROKER_CA_FILE, EnrolmentError, enroll
from tests.testkit import HttpSite, json_answer, make_tls

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
LOCAL = "127.0.0.1"
CERT_ERROR = "certificate verify failed"


def certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@dataclass
class TlsBroker:
    """A running broker with a plain listener and a TLS listener."""

    config: BrokerConfig
    password: str
    tls_dir: Path

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / "ca.crt"

    @property
    def tls_port(self) -> int:
        assert self.config.tls_port is not None
        return self.config.tls_port


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    root = tmp_path_factory.mktemp("tls-broker")
    made = make_tls(root / "tls", LOCAL, "localhost")
    assert made.returncode == 0, made.stderr
    port = free_port()
    tls_port = free_port()
    while tls_port == port:
        tls_port = free_port()
    config = BrokerConfig(root / "broker", port, tls_port=tls_port, tls_dir=root / "tls")
    server, password = broker.start(config)
    try:
        yield TlsBroker(config, password, root / "tls")
    finally:
        server.stop()


def mosquitto_sub(b: TlsBroker, *options: str, host: str = LOCAL, port: int | None = None,
                  topic: str = "loa/v1/#", wait: int = 1, count: int | None = None,
                  ) -> subprocess.CompletedProcess[str]:
    """mosquitto_sub with the controller's account for `wait` seconds (or until `count` messages)."""
    argv = ["mosquitto_sub", "-h", host, "-p", str(port or b.tls_port), "-V", "mqttv311",
            "-i", f"tls-test-{time.time_ns()}", "-u", CONTROLLER_USERNAME, "-P", b.password,
            *options, "-t", topic, "-W", str(wait)]
    if count is not None:
        argv += ["-C", str(count)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=wait + 15)


# -- broker/make-tls.sh ----------------------------------------------------------------------------

def test_make_tls_makes_a_ca_and_a_server_certificate_for_the_names(tls_broker: TlsBroker) -> None:
    d = tls_broker.tls_dir
    for key in ("ca.key", "server.key"):
        assert (d / key).stat().st_mode & 0o777 == 0o600, key
    ca, server = certificate(d / "ca.crt"), certificate(d / "server.crt")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert server.issuer == ca.subject
    server.verify_directly_issued_by(ca)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == [LOCAL]
    usage = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in usage
    assert ca.not_valid_after_utc - ca.not_valid_before_utc == timedelta(days=3650)
    assert server.not_valid_after_utc - server.not_valid_before_utc == timedelta(days=825)


def test_make_tls_refuses_to_overwrite_a_ca_unless_told(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    first = make_tls(out, "broker.example.vn", "10.0.0.5")
    assert first.returncode == 0, first.stderr
    assert "ca.crt" in first.stdout and "LOALANG_MQTT_TLS_CA_FILE" in first.stdout
    ca_before, server_before = (out / "ca.crt").read_bytes(), (out / "server.crt").read_bytes()

    again = make_tls(out, "broker.example.vn")
    assert again.returncode != 0
    assert "refusing to overwrite" in again.stderr
    assert (out / "ca.crt").read_bytes() == ca_before
    assert (out / "server.crt").read_bytes() == server_before

    renewed = make_tls(out, "broker.example.vn", "radio.example.vn", options=("--renew",))
    assert renewed.returncode == 0, renewed.stderr
    assert (out / "ca.crt").read_bytes() == ca_before
    server = certificate(out / "server.crt")
    server.verify_directly_issued_by(certificate(out / "ca.crt"))
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["broker.example.vn", "radio.example.vn"]

    forced = make_tls(out, "broker.example.vn", options=("--force",))
    assert forced.returncode == 0, forced.stderr
    assert (out / "ca.crt").read_bytes() != ca_before
    assert sorted(p.name for p in out.iterdir()) == ["ca.crt", "ca.key", "server.crt", "server.key"]


def test_make_tls_rejects_a_name_that_is_not_a_host_name(tmp_path: Path) -> None:
    result = make_tls(tmp_path / "tls", "broker.example.vn", "bad name,DNS:evil")
    assert result.returncode != 0
    assert "neither a host name nor an IP address" in result.stderr
    assert not (tmp_path / "tls" / "ca.key").exists()


# -- the rendered configuration ---------------------------------------------------------------------

def test_broker_config_has_a_tls_listener_only_when_asked(tmp_path: Path, tls_broker: TlsBroker) -> None:
    plain = render_config(BrokerConfig(tmp_path, 1883))
    assert "cafile" not in plain and plain.count("\nlistener ") == 1
    assert "listener 1883 127.0.0.1" in plain

    text = render_config(BrokerConfig(tmp_path, 1883, tls_port=8883, tls_dir=tls_broker.tls_dir))
    lines = text.splitlines()
    assert "listener 1883 127.0.0.1" in lines
    tls_at = lines.index("listener 8883 127.0.0.1")
    assert lines[tls_at + 1:tls_at + 5] == [
        f"cafile {tls_broker.tls_dir / 'ca.crt'}", f"certfile {tls_broker.tls_dir / 'server.crt'}",
        f"keyfile {tls_broker.tls_dir / 'server.key'}", "tls_version tlsv1.2",
    ]

    with pytest.raises(ValueError, match="tls_dir"):
        render_config(BrokerConfig(tmp_path, 1883, tls_port=8883))
    with pytest.raises(FileNotFoundError, match=r"ca\.crt, server\.crt, server\.key missing"):
        render_config(BrokerConfig(tmp_path, 1883, tls_port=8883, tls_dir=tmp_path))


# -- real clients against the TLS listener ----------------------------------------------------------

@pytest.mark.parametrize("host", [LOCAL, "localhost"])
def test_controller_account_connects_over_tls_with_the_ca(tls_broker: TlsBroker, host: str) -> None:
    result = mosquitto_sub(tls_broker, "--cafile", str(tls_broker.ca_file), host=host, wait=1)
    assert result.returncode in (0, 27), result.stderr  # 27: timed out while connected
    for error in ("Error", "error", "Unable to connect", "Connection Refused"):
        assert error not in result.stderr, result.stderr
    uptime = mosquitto_sub(tls_broker, "--cafile", str(tls_broker.ca_file), host=host,
                           topic="$SYS/broker/uptime", wait=5, count=1)
    assert uptime.returncode == 0, uptime.stderr
    assert uptime.stdout.strip().endswith("seconds"), uptime.stdout


def test_tls_without_the_ca_fails_on_the_certificate(tls_broker: TlsBroker, tmp_path: Path) -> None:
    system_cas = mosquitto_sub(tls_broker, "--capath", "/etc/ssl/certs", "-d", wait=2)
    assert system_cas.returncode not in (0, 27)
    assert CERT_ERROR in system_cas.stdout + system_cas.stderr

    other = make_tls(tmp_path / "other", LOCAL)
    assert other.returncode == 0, other.stderr
    other_ca = mosquitto_sub(tls_broker, "--cafile", str(tmp_path / "other" / "ca.crt"), "-d", wait=2)
    assert other_ca.returncode not in (0, 27)
    assert CERT_ERROR in other_ca.stdout + other_ca.stderr

    context = ssl.create_default_context()  # the system's CAs, as a client without our CA has
    with (socket.create_connection((LOCAL, tls_broker.tls_port), timeout=5) as raw,
          pytest.raises(ssl.SSLCertVerificationError, match=CERT_ERROR)):
        context.wrap_socket(raw, server_hostname=LOCAL)


def test_tls_with_a_name_not_in_the_certificate_fails(tls_broker: TlsBroker) -> None:
    context = ssl.create_default_context(cafile=str(tls_broker.ca_file))
    with (socket.create_connection((LOCAL, tls_broker.tls_port), timeout=5) as raw,
          pytest.raises(ssl.SSLCertVerificationError, match="mismatch")):
        context.wrap_socket(raw, server_hostname="radio.example.vn")


def test_plain_mqtt_on_the_tls_port_fails(tls_broker: TlsBroker) -> None:
    plain = mosquitto_sub(tls_broker, topic="$SYS/broker/uptime", wait=3, count=1)
    assert plain.returncode != 0
    assert plain.stdout == ""
    # A bare MQTT 3.1.1 CONNECT: the TLS listener never answers it with a CONNACK (0x20).
    client_id = b"plain-probe"
    variable = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(client_id).to_bytes(2, "big") + client_id
    with socket.create_connection((LOCAL, tls_broker.tls_port), timeout=5) as raw:
        raw.sendall(bytes([0x10, len(variable)]) + variable)
        try:
            answer = raw.recv(64)
        except (ConnectionResetError, TimeoutError):
            answer = b""
    assert not answer.startswith(b"\x20"), answer


def test_the_plain_listener_still_works_on_loopback(tls_broker: TlsBroker) -> None:
    assert tls_broker.config.address == LOCAL
    uptime = mosquitto_sub(tls_broker, port=tls_broker.config.port, topic="$SYS/broker/uptime",
                           wait=5, count=1)
    assert uptime.returncode == 0, uptime.stderr


async def _round_trip(settings: LinkSettings, topic: str, payload: bytes) -> None:
    """Connect with these settings, subscribe to topic, publish to it and receive it back."""
    received: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    async def handler(topic: str, payload: bytes, retained: bool) -> None:
        await received.put((topic, payload))

    link = MqttLink(settings)
    link.route(topic, handler)
    running = asyncio.create_task(link.run())
    connected = asyncio.create_task(link.connected.wait())
    try:
        done, _ = await asyncio.wait({running, connected}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
        if running in done:
            running.result()  # raises what stopped the link
        assert connected in done, "no TLS connection within 15 s"
        await link.publish(topic, payload)
        assert await asyncio.wait_for(received.get(), 5) == (topic, payload)
    finally:
        connected.cancel()
        await link.close()
        try:
            await asyncio.wait_for(running, 5)
        except (TimeoutError, asyncio.CancelledError):
            running.cancel()


async def test_mqtt_link_with_the_ca_publishes_and_receives_over_tls(tls_broker: TlsBroker) -> None:
    settings = LinkSettings(
        host="localhost", port=tls_broker.tls_port, client_id=f"tls-link-{time.time_ns()}",
        username=CONTROLLER_USERNAME, password=tls_broker.password, tls_ca_file=str(tls_broker.ca_file),
        connect_timeout=5,
    )
    await _round_trip(settings, "loa/v1/ctl/tls-test/probe", b"over tls")


# -- the controller's side of enrolment -------------------------------------------------------------

def _settings(**values: Any) -> Settings:
    return Settings(**{"environment": "test", "mqtt_host": "broker", "mqtt_port": 1883, **values})


def test_controller_gives_devices_tls_port_and_ca(tls_broker: TlsBroker, tmp_path: Path) -> None:
    ca = str(tls_broker.ca_file)
    plain = _settings()
    assert (device_tls_ca_file(plain), device_broker_port(plain), device_ca_pem(plain)) == (None, 1883, None)

    both = _settings(mqtt_tls_ca_file=ca, mqtt_port=8883)  # the controller itself uses TLS
    assert device_tls_ca_file(both) == ca and device_broker_port(both) == 8883
    assert device_ca_pem(both) == tls_broker.ca_file.read_text()

    devices_only = _settings(device_tls_ca_file=ca)  # plain inside, TLS for devices
    assert device_broker_port(devices_only) == 8883
    assert device_ca_pem(devices_only) == tls_broker.ca_file.read_text()
    assert device_broker_port(_settings(device_tls_ca_file=ca, device_mqtt_port=18883)) == 18883

    bundle = tmp_path / "bundle.pem"  # a system-wide bundle: devices use their own
    bundle.write_text(tls_broker.ca_file.read_text() * (MAX_CA_PEM_BYTES // 600 + 1))
    assert device_ca_pem(_settings(device_tls_ca_file=str(bundle))) is None

    for broken in (tmp_path / "missing.pem", tmp_path / "server.key"):
        if broken.name == "server.key":
            broken.write_text((tls_broker.tls_dir / "server.key").read_text())
        with pytest.raises(BrokerEndpointError, match="cannot read the broker's CA certificate"):
            device_ca_pem(_settings(device_tls_ca_file=str(broken)))


# -- the agent's side of enrolment, against a stand-in controller ----------------------------------

class FakeController:
    """Answers POST /api/v1/enroll with a prepared answer, and keeps what it was sent."""

    def __init__(self) -> None:
        self.answer: dict[str, Any] = {}
        self.site = HttpSite(LOCAL, {}, post=lambda path, body: json_answer(self.answer))
        self.url = self.site.url

    @property
    def requests(self) -> list[dict[str, Any]]:
        return [{"path": path, "body": json.loads(body)} for path, body in self.site.posted]

    def close(self) -> None:
        self.site.close()


@pytest.fixture
def fake_controller() -> Iterator[FakeController]:
    fake = FakeController()
    yield fake
    fake.close()


ROOT_KEY = KeyPair.generate()
CODE = claim_code.compose("K7QM2XWD9RTA", ROOT_KEY.public_bytes)  # names ROOT_KEY


def enrol_answer(b: TlsBroker, tls: bool = True, ca_pem: str | None = None) -> dict[str, Any]:
    """An enrolment answer that points at the TLS test broker with the controller's account."""
    return {
        "device_id": "loa-tls-1", "areas": ["thon-a"], "root_public_key": ROOT_KEY.public_text,
        "controller_url": "http://127.0.0.1:8000",
        "broker": {"host": "localhost", "port": b.tls_port if tls else b.config.port,
                   "username": CONTROLLER_USERNAME, "password": b.password, "client_id": "loa-tls-1",
                   "tls": tls, "keepalive": 30},
        "broker_ca_pem": ca_pem,
    }


async def test_enrolment_stores_the_broker_ca_and_the_agent_connects_with_it(
    tls_broker: TlsBroker, fake_controller: FakeController, tmp_path: Path
) -> None:
    pem = tls_broker.ca_file.read_text()
    fake_controller.answer = enrol_answer(tls_broker, ca_pem=pem)
    config_path = tmp_path / "etc" / "agent.toml"
    config = enroll(fake_controller.url, CODE, config_path, tmp_path / "data")

    assert fake_controller.requests[0]["path"] == "/api/v1/enroll"
    ca_file = config_path.parent / BROKER_CA_FILE
    assert ca_file.read_text() == pem
    assert ca_file.stat().st_mode & 0o777 == 0o644
    assert config.broker.tls_ca_file == str(ca_file.resolve())
    stored = config_file.load(config_path).broker
    assert stored.tls_ca_file == str(ca_file.resolve())
    assert stored.port == tls_broker.tls_port

    settings = LinkSettings(
        host=stored.host, port=stored.port, client_id=stored.client_id, username=stored.username,
        password=stored.password, tls_ca_file=stored.tls_ca_file, connect_timeout=5,
    )
    await _round_trip(settings, "loa/v1/dev/loa-tls-1/telemetry", b"enrolled over tls")


def test_enrolment_without_tls_stores_no_ca(
    tls_broker: TlsBroker, fake_controller: FakeController, tmp_path: Path
) -> None:
    config_path = tmp_path / "agent.toml"
    (tmp_path / BROKER_CA_FILE).write_text("left by an earlier enrolment")
    fake_controller.answer = enrol_answer(tls_broker, tls=False)
    config = enroll(fake_controller.url, CODE, config_path)
    assert config.broker.tls_ca_file is None
    assert config_file.load(config_path).broker.tls_ca_file is None
    assert not (tmp_path / BROKER_CA_FILE).exists()


def test_enrolment_refuses_a_ca_that_is_not_a_certificate(
    tls_broker: TlsBroker, fake_controller: FakeController, tmp_path: Path
) -> None:
    config_path = tmp_path / "agent.toml"
    for broken in ("", "not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"):
        fake_controller.answer = enrol_answer(tls_broker, ca_pem=broken)
        with pytest.raises(EnrolmentError, match="not valid PEM"):
            enroll(fake_controller.url, CODE, config_path)
    fake_controller.answer = enrol_answer(tls_broker, ca_pem=12345)
    with pytest.raises(EnrolmentError, match="incomplete"):
        enroll(fake_controller.url, CODE, config_path)
    assert not config_path.exists()
    assert not (tmp_path / BROKER_CA_FILE).exists()


def test_enrolment_over_tls_without_a_ca_uses_the_system_bundle(
    tls_broker: TlsBroker, fake_controller: FakeController, tmp_path: Path
) -> None:
    if not Path(ssl.get_default_verify_paths().cafile or "/nonexistent").is_file():
        pytest.skip("this system has no CA bundle")
    fake_controller.answer = enrol_answer(tls_broker, ca_pem=None)
    config = enroll(fake_controller.url, CODE, tmp_path / "agent.toml")
    assert config.broker.tls_ca_file == ssl.get_default_verify_paths().cafile
    assert not (tmp_path / BROKER_CA_FILE).exists()
