"""Enrolment: make the device's own key pair and redeem a claim code with the controller."""

from __future__ import annotations

import ipaddress
import json
import shutil
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from loalang_protocol import claim_code
from loalang_protocol.files import write_atomic
from loalang_protocol.keys import KeyPair

from . import config as config_file
from . import controller_http
from .config import AgentConfig, BrokerConfig

MAX_RESPONSE_BYTES = 64 * 1024
BROKER_CA_FILE = "broker-ca.pem"  # written next to the configuration file


class EnrolmentError(RuntimeError):
    """Enrolment failed; the message says why in words a technician understands."""


def _post_json(url: str, body: dict[str, Any], ca_file: Path | None, timeout: float = 20.0) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - the URL scheme is checked by the caller
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with controller_http.open_url(request, timeout, ca_file) as response:
            data: dict[str, Any] = json.loads(response.read(MAX_RESPONSE_BYTES))
            return data
    except urllib.error.HTTPError as exc:
        try:
            refusal = json.loads(exc.read(4096))
        except ValueError:
            refusal = None
        detail = refusal.get("detail", "") if isinstance(refusal, dict) else ""
        raise EnrolmentError(f"the controller refused enrolment ({exc.code}): {detail}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EnrolmentError(f"cannot reach the controller at {url}: {reason}") from None
    except ValueError:
        raise EnrolmentError("the controller's answer is not JSON") from None


def enroll(controller_url: str, code: str, config_path: Path, data_dir: Path | None = None,
           allow_plain_http: bool = False, ca_file: Path | None = None) -> AgentConfig:
    """Enrol this device and write its configuration; the private key never leaves data_dir.

    The root key in the answer must match the claim code's fingerprint. Plain http:// is refused
    but to this machine itself, unless allow_plain_http (a closed lab network) says otherwise.
    With ca_file, the controller's HTTPS certificate is checked against that CA (a province's own),
    now and from then on (a copy is kept beside the configuration); else against the system's.
    """
    check_controller_url(controller_url, allow_plain_http)
    try:
        claim_code.split(code)
    except claim_code.ClaimCodeError as exc:
        raise EnrolmentError(str(exc)) from None
    controller_ca = _controller_ca(ca_file)
    data_dir = data_dir or config_path.parent
    key = KeyPair.generate()
    answer = _post_json(controller_url.rstrip("/") + "/api/v1/enroll",
                        {"code": code, "public_key": key.public_text}, ca_file)
    ca_path = config_path.parent.resolve() / BROKER_CA_FILE
    controller_ca_path = config_path.parent.resolve() / controller_http.CONTROLLER_CA_FILE
    try:
        broker = answer["broker"]
        tls = bool(broker.get("tls", False))
        ca_pem = _checked_pem(answer.get("broker_ca_pem")) if tls else None
        tls_ca_file = (str(ca_path) if ca_pem is not None else _system_ca_file()) if tls else None
        config = AgentConfig(
            device_id=answer["device_id"], controller_url=answer["controller_url"],
            root_public_key=answer["root_public_key"], areas=answer["areas"], data_dir=data_dir,
            controller_ca_file=controller_ca_path if controller_ca is not None else None,
            broker=BrokerConfig(
                host=broker["host"], port=broker["port"], username=broker["username"],
                password=broker["password"], client_id=broker["client_id"], keepalive=broker["keepalive"],
                tls_ca_file=tls_ca_file, addresses=broker.get("addresses") or None,
            ),
        )
    except ValidationError as exc:
        raise EnrolmentError(f"the controller's answer is not usable: {config_file.describe(exc)}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise EnrolmentError(f"the controller's answer is incomplete: {exc}"[:300]) from None
    _check_root_key(code, config.root_public_key)
    _reset_state_if_other_device(config_path, data_dir, config.device_id)
    key.save(config.key_file)
    _keep_public_file(ca_path, ca_pem)  # none: one left by an earlier enrolment over TLS goes
    _keep_public_file(controller_ca_path, controller_ca)
    config_file.save(config, config_path)
    return config


def _controller_ca(ca_file: Path | None) -> str | None:
    """The CA given with --ca-file, checked before anything is asked of the controller."""
    if ca_file is None:
        return None
    try:
        return controller_http.check_ca_file(ca_file)
    except ValueError as exc:
        raise EnrolmentError(f"--ca-file: {exc}") from None


def _keep_public_file(path: Path, text: str | None) -> None:
    """Write a public file beside the configuration, or remove an old one when there is none now."""
    if text is not None:
        _write_public_file(path, text)
    else:
        path.unlink(missing_ok=True)


def check_controller_url(url: str, allow_plain_http: bool = False) -> None:
    """Refuse a URL that is not http(s), and plain http to anything but this machine (the claim
    code would cross the network in clear, and the answer could be changed on the way)."""
    if not url.startswith(("http://", "https://")):
        raise EnrolmentError("--controller must be an http:// or https:// URL")
    if url.startswith("https://") or allow_plain_http or _is_loopback(urllib.parse.urlsplit(url).hostname):
        return
    raise EnrolmentError(
        f"refusing plain http:// to {url}: the claim code would cross the network in clear; use the "
        "controller's https:// address (plain http is only for this machine itself: localhost, 127.0.0.1)"
    )


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost: its address is not known before it is looked up


def _check_root_key(code: str, root_public_key: str) -> None:
    """Refuse an answer whose root key is not the one the claim code names."""
    if not claim_code.matches_root_key(code, root_public_key):
        raise EnrolmentError(
            "the controller's root key does not match the claim code's fingerprint: the answer was "
            "changed on the way or the code is for another controller; nothing was written"
        )


def _checked_pem(ca_pem: Any) -> str | None:
    """The broker CA certificate the controller sent (None if it sent none), checked to be usable."""
    if ca_pem is None:
        return None
    if not isinstance(ca_pem, str):
        raise TypeError("broker_ca_pem is not text")
    try:
        if "-----BEGIN CERTIFICATE-----" not in ca_pem:
            raise ValueError("no certificate")
        ssl.create_default_context(cadata=ca_pem)
    except (ssl.SSLError, ValueError):
        raise EnrolmentError("the controller sent a broker CA certificate that is not valid PEM") from None
    return ca_pem


def _system_ca_file() -> str:
    """This system's CA bundle, for a broker whose certificate is from a public CA."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return candidate
    raise EnrolmentError(
        "the broker uses TLS, the controller sent no CA certificate and this system has no CA "
        "bundle (install the ca-certificates package)"
    )


def _write_public_file(path: Path, text: str) -> None:
    """Write a file readable by everyone (a certificate), atomically."""
    write_atomic(path, text.encode(), mode=0o644)


def _reset_state_if_other_device(config_path: Path, data_dir: Path, device_id: str) -> None:
    """A board enrolled as another device forgets the old device's state."""
    try:
        previous = config_file.load(config_path).device_id
    except config_file.ConfigError:
        return
    if previous != device_id:
        (data_dir / "state.json").unlink(missing_ok=True)
        shutil.rmtree(data_dir / "outbox", ignore_errors=True)
