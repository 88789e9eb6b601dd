"""Enrolment that a man in the middle cannot subvert: the real `receiver-agent enroll` against the real
controller, through a small HTTP relay of the test's own that plays the man in the middle."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loalang_protocol.keys import KeyPair
from tests.testkit import BIN, Fleet, HttpAnswer, HttpSite, json_answer, self_signed, tls_server_context

pytestmark = pytest.mark.e2e

ATTACKER_ROOT = KeyPair.generate()


class ManInTheMiddle:
    """Relays POSTs to the controller; with swap_root_key, puts its own root key into the answer."""

    def __init__(self, controller_url: str, host: str, swap_root_key: bool,
                 certificate: tuple[Path, Path] | None = None) -> None:
        self.swapped = 0
        # TLS with a certificate the board was made to trust, when given
        tls = tls_server_context(certificate) if certificate is not None else None
        self.site = HttpSite(host, {}, tls=tls, post=self._relayed)
        self.controller_url, self.swap_root_key = controller_url, swap_root_key
        self.port = self.site.port

    @property
    def requests(self) -> int:
        return len(self.site.posted)

    def _relayed(self, path: str, body: bytes) -> HttpAnswer:
        answer = httpx.post(self.controller_url + path, content=body,
                            headers={"Content-Type": "application/json"}, timeout=30)
        if self.swap_root_key and answer.status_code == 200:
            self.swapped += 1
            return json_answer({**answer.json(), "root_public_key": ATTACKER_ROOT.public_text})
        return answer.status_code, {"Content-Type": "application/json"}, answer.content

    def close(self) -> None:
        self.site.close()


def this_machines_lan_address() -> str:
    """An address of this machine that is not loopback: the one its default route leaves from, else one
    its host name resolves to."""
    candidates: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe, contextlib.suppress(OSError):
        probe.connect(("198.51.100.1", 9))  # no packet is sent: this only picks a route
        candidates.append(probe.getsockname()[0])
    with contextlib.suppress(OSError):
        resolved = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        candidates += [str(info[4][0]) for info in resolved]
    for address in candidates:
        if not address.startswith("127."):
            return address
    pytest.skip("this machine has no network address but loopback")


@pytest.fixture
def relay(fleet: Fleet, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ManInTheMiddle]:
    host, swap = request.param
    certificate = self_signed(tmp_path) if host == "loopback-tls" else None
    middle = ManInTheMiddle(fleet.controller.url, "0.0.0.0" if host == "network" else "127.0.0.1", swap,
                            certificate)
    yield middle
    middle.close()


def enrol_through(url: str, code: str, folder: Path, *options: str,
                  trusted_ca: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `receiver-agent enroll` against url (trusting trusted_ca as well, when given)."""
    env = {**os.environ, "SSL_CERT_FILE": str(trusted_ca)} if trusted_ca else None
    return subprocess.run(
        [str(BIN / "receiver-agent"), "enroll", "--controller", url, "--code", code,
         "--config", str(folder / "agent.toml"), *options],
        capture_output=True, text=True, timeout=60, env=env)


def assert_nothing_written(folder: Path) -> None:
    assert not (folder / "agent.toml").exists()
    assert not (folder / "device.key").exists()


@pytest.mark.parametrize("relay", [("loopback", True)], indirect=True)
def test_a_root_key_swapped_on_the_way_is_refused(fleet: Fleet, relay: ManInTheMiddle,
                                                  tmp_path: Path) -> None:
    _, code = fleet.register("thon-a")
    folder = tmp_path / "board"
    result = enrol_through(f"http://127.0.0.1:{relay.port}", code, folder)
    assert relay.swapped == 1, "the relay saw the controller's answer and swapped its root key"
    assert result.returncode == 2, result.stdout
    assert result.stderr.startswith("enrolment failed: "), result.stderr
    assert "root key does not match the claim code" in result.stderr
    assert "Traceback" not in result.stderr
    assert_nothing_written(folder)


@pytest.mark.parametrize("relay", [("loopback-tls", True)], indirect=True)
def test_a_root_key_swapped_behind_a_trusted_tls_interception_is_refused(
    fleet: Fleet, relay: ManInTheMiddle, tmp_path: Path
) -> None:
    """A board made to trust an intercepting CA (a captive portal, a mobile operator's proxy, a misissued
    certificate) still refuses a root key that the claim code does not name."""
    _, code = fleet.register("thon-a")
    folder = tmp_path / "board"
    result = enrol_through(f"https://127.0.0.1:{relay.port}", code, folder,
                           trusted_ca=tmp_path / "console.crt")
    assert relay.swapped == 1, result.stderr
    assert result.returncode == 2, result.stdout
    assert "root key does not match the claim code" in result.stderr
    assert_nothing_written(folder)


@pytest.mark.parametrize("relay", [("network", False)], indirect=True)
def test_plain_http_to_another_machine_is_refused_before_the_code_is_sent(
    fleet: Fleet, relay: ManInTheMiddle, tmp_path: Path
) -> None:
    _, code = fleet.register("thon-a")
    folder = tmp_path / "board"
    url = f"http://{this_machines_lan_address()}:{relay.port}"
    result = enrol_through(url, code, folder)
    assert result.returncode == 2, result.stdout
    assert result.stderr.startswith("enrolment failed: refusing plain http://"), result.stderr
    assert "use the controller's https:// address" in result.stderr
    assert relay.requests == 0, "the claim code never left the board"
    assert_nothing_written(folder)


@pytest.mark.parametrize("relay", [("network", False)], indirect=True)
def test_a_lab_may_enrol_over_plain_http_when_it_says_so(
    fleet: Fleet, relay: ManInTheMiddle, tmp_path: Path
) -> None:
    device_id, code = fleet.register("thon-a")
    folder = tmp_path / "board"
    url = f"http://{this_machines_lan_address()}:{relay.port}"
    result = enrol_through(url, code, folder, "--allow-plain-http")
    assert result.returncode == 0, result.stderr
    assert relay.requests == 1
    assert f"enrolled as {device_id}" in result.stdout
    assert fleet.device(device_id)["enrolled"]
