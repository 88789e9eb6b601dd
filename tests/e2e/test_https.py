"""The controller serves HTTPS with a configured certificate (browsers give the console's live page the
microphone only in a secure context); the console's session cookie is then Secure."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loalang_stack.ports import free_port
from loalang_stack.services import ControllerProcess
from tests.testkit import ADMIN_PASSWORD, Stack, own_controller, self_signed

pytestmark = pytest.mark.e2e

API = "/api/v1"


@pytest.fixture
def https_controller(stack: Stack, tmp_path: Path) -> Iterator[ControllerProcess]:
    cert_file, key_file = self_signed(tmp_path)
    with own_controller(stack, tmp_path, LOALANG_HTTPS_CERT_FILE=str(cert_file),
                        LOALANG_HTTPS_KEY_FILE=str(key_file), LOALANG_INSTANCE_ID="ctl-https") as process:
        yield process


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
