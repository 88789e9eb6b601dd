"""The controller serves HTTPS with a configured certificate (browsers give the console's live page the
microphone only in a secure context); the console's session cookie is then Secure."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from loalang_stack.ports import free_port
from loalang_stack.services import ControllerProcess
from tests.testkit import ADMIN_PASSWORD, Stack

API = "/api/v1"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as an office's internal CA would issue one."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "loalang test console")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "console.crt", folder / "console.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert_file, key_file


@pytest.fixture
def https_controller(stack: Stack, tmp_path: Path) -> Iterator[ControllerProcess]:
    cert_file, key_file = self_signed(tmp_path)
    env = {**stack.controller_env(), "LOALANG_HTTPS_CERT_FILE": str(cert_file),
           "LOALANG_HTTPS_KEY_FILE": str(key_file),
           "LOALANG_INSTANCE_ID": "ctl-https"}  # its own MQTT client id: the shared controller stays on
    process = ControllerProcess(tmp_path / "controller", free_port(), env)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_the_console_is_served_over_https_and_its_session_cookie_is_secure(
        https_controller: ControllerProcess) -> None:
    certificate = https_controller.env["LOALANG_HTTPS_CERT_FILE"]
    assert https_controller.url.startswith("https://")
    with httpx.Client(base_url=https_controller.url, verify=ssl.create_default_context(cafile=certificate),
                      timeout=15) as client:
        page = client.get("/console/live.html")
        assert page.status_code == 200 and "microphone" in page.headers["permissions-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        opened = client.post(f"{API}/auth/session", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert opened.status_code == 200
        assert "secure" in opened.headers["set-cookie"].lower()
    plain = https_controller.url.replace("https://", "http://")
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{plain}/healthz", timeout=5)


def test_half_a_certificate_configuration_is_refused(stack: Stack, tmp_path: Path) -> None:
    cert_file, _ = self_signed(tmp_path)
    env = {**stack.controller_env(), "LOALANG_HTTPS_CERT_FILE": str(cert_file),
           "LOALANG_INSTANCE_ID": "ctl-https-half"}
    process = ControllerProcess(tmp_path / "controller", free_port(), env)
    with pytest.raises(RuntimeError, match="LOALANG_HTTPS_KEY_FILE"):
        process.start(timeout=15)
    process.stop()
