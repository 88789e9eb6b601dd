"""A board told to trust a province's own CA (`enroll --ca-file`) checks the controller's HTTPS
certificate against it, at enrolment and on every later request; without it, against the system's
CA store, which does not know that CA."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from loalang_protocol import claim_code
from loalang_protocol.keys import KeyPair
from receiver_agent import config as config_file
from receiver_agent import controller_http
from receiver_agent.enrolment import EnrolmentError, enroll
from tests.testkit import HttpSite, json_answer, self_signed, tls_server_context

pytestmark = pytest.mark.unit

ROOT_KEY = KeyPair.generate()
CODE = claim_code.compose("K7QM2XWD9RTA", ROOT_KEY.public_bytes)
ANSWER = {"device_id": "loa-ca-1", "areas": ["thon-a"], "root_public_key": ROOT_KEY.public_text,
          "controller_url": "https://127.0.0.1:8443",
          "broker": {"host": "127.0.0.1", "port": 1883, "username": "loa-ca-1", "password": "p" * 24,
                     "client_id": "loa-ca-1", "tls": False, "keepalive": 30}}


class HttpsController:
    """Answers every POST with the enrolment answer, over HTTPS with a certificate of its own CA."""

    def __init__(self, folder: Path) -> None:
        self.cert_file, key_file = self_signed(folder)
        self.site = HttpSite("127.0.0.1", {}, tls=tls_server_context((self.cert_file, key_file)),
                             post=lambda path, body: json_answer(ANSWER))
        self.url = self.site.url

    @property
    def requests(self) -> int:
        return len(self.site.posted)

    def close(self) -> None:
        self.site.close()


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[HttpsController]:
    served = HttpsController(tmp_path)
    yield served
    served.close()


def test_enrolment_checks_the_controller_against_the_ca_it_is_given_and_keeps_it(
        controller: HttpsController, tmp_path: Path) -> None:
    config_path = tmp_path / "board" / "agent.toml"
    config_path.parent.mkdir()
    with pytest.raises(EnrolmentError, match="CERTIFICATE_VERIFY_FAILED"):
        enroll(controller.url, CODE, config_path)
    config = enroll(controller.url, CODE, config_path, ca_file=controller.cert_file)
    kept = config_path.parent / controller_http.CONTROLLER_CA_FILE
    assert config.controller_ca_file == kept.resolve()
    assert kept.read_text() == controller.cert_file.read_text()
    assert config_file.load(config_path).controller_ca_file == kept.resolve(), "written to the file"
    request = urllib.request.Request(controller.url, data=b"{}", method="POST")
    with controller_http.open_url(request, 10, config.controller_ca_file) as answer:
        assert json.loads(answer.read())["device_id"] == "loa-ca-1", "later requests trust it too"


def test_a_controller_the_given_ca_did_not_sign_is_refused_and_nothing_changes(
        controller: HttpsController, tmp_path: Path) -> None:
    config_path = tmp_path / "agent.toml"
    enroll(controller.url, CODE, config_path, ca_file=controller.cert_file)
    (tmp_path / "other").mkdir()
    other_ca, _ = self_signed(tmp_path / "other")
    with pytest.raises(EnrolmentError, match="CERTIFICATE_VERIFY_FAILED"):
        enroll(controller.url, CODE, config_path, ca_file=other_ca)
    assert (tmp_path / controller_http.CONTROLLER_CA_FILE).read_text() == controller.cert_file.read_text(), \
        "a failed enrolment changes nothing"


@pytest.mark.parametrize("content, problem", [
    ("not a certificate", "holds no PEM certificate"),
    ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a valid PEM certificate"),
])
def test_a_ca_file_that_is_not_a_certificate_is_refused_before_the_controller_is_asked(
        controller: HttpsController, tmp_path: Path, content: str, problem: str) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text(content)
    with pytest.raises(EnrolmentError, match=f"--ca-file: .*{problem}"):
        enroll(controller.url, CODE, tmp_path / "agent.toml", ca_file=bad)
    with pytest.raises(EnrolmentError, match="--ca-file: cannot read"):
        enroll(controller.url, CODE, tmp_path / "agent.toml", ca_file=tmp_path / "missing.pem")
    assert controller.requests == 0 and not (tmp_path / "agent.toml").exists()
