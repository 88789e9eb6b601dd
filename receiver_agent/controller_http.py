"""HTTPS to the controller, checked against the CA the board was told to trust.

Every request the agent makes to its controller (enrolment, media downloads, log uploads, a new
broker login) opens here. A controller with a certificate from a public CA is checked against the
board's CA store; a province that runs its own CA gives its certificate at enrolment
(`receiver-agent enroll --ca-file`), and the agent then trusts that CA, and only it, for its
controller (the broker's CA is a separate file, sent by the controller).
"""

from __future__ import annotations

import functools
import ssl
import urllib.request
from http.client import HTTPResponse
from pathlib import Path

CONTROLLER_CA_FILE = "controller-ca.pem"  # written next to the configuration file


def open_url(request: urllib.request.Request, timeout: float, ca_file: Path | None) -> HTTPResponse:
    """Open a request to the controller; raises what urllib.request.urlopen raises."""
    context = _context(str(ca_file)) if ca_file is not None else None
    response: HTTPResponse = urllib.request.urlopen(request, timeout=timeout, context=context)  # noqa: S310
    return response


def check_ca_file(path: Path) -> str:
    """The CA certificate(s) in path as text; raises ValueError saying what is wrong with it."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the CA file {path}: {exc}") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ValueError(f"{path} holds no PEM certificate")
    try:
        ssl.create_default_context(cadata=text)
    except (ssl.SSLError, ValueError):
        raise ValueError(f"{path} is not a valid PEM certificate") from None
    return text


@functools.lru_cache(maxsize=4)
def _context(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)
