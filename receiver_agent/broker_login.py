"""A new broker login from the controller, asked for when the broker refuses the device's.

On a NATS cluster the login carries the device's area grants, so after a move the broker refuses the
old one; on either broker a login lost with the broker's accounts is renewed the same way. The
request is signed with the device's key like every device request: a device the controller deleted
or re-enrolled elsewhere is refused, and the agent then stops as before.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from pathlib import Path

from pydantic import ValidationError

from loalang_protocol.http_auth import sign_request
from loalang_protocol.keys import KeyPair

from . import config as config_file
from . import controller_http
from .config import AgentConfig

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 64 * 1024


def renew(config: AgentConfig, path: Path, key: KeyPair, timeout: float = 30.0) -> AgentConfig | None:
    """Ask the controller for a new login, write it into the configuration file and return the new
    configuration; None when the controller refuses or cannot be reached."""
    url_path = f"/api/v1/devices/{config.device_id}/broker-login"
    request = urllib.request.Request(  # noqa: S310 (the controller's URL from enrolment)
        config.controller_url.rstrip("/") + url_path, data=b"", method="POST",
        headers=sign_request(key, config.device_id, "POST", url_path, body=b""))
    try:
        with controller_http.open_url(request, timeout, config.controller_ca_file) as answer:
            login = json.loads(answer.read(MAX_ANSWER_BYTES))
        fields = {name: login[name] for name in ("username", "password", "client_id")}
        broker = type(config.broker).model_validate({**config.broker.model_dump(), **fields})
        renewed = config.model_copy(update={"broker": broker})
    except urllib.error.HTTPError as exc:
        log.error("device %s: the controller refused a new broker login (HTTP %s)", config.device_id,
                  exc.code)
        return None
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
        log.error("device %s: no new broker login: %s", config.device_id, exc)
        return None
    config_file.rewrite(renewed, path)
    log.warning("device %s: broker login renewed by the controller", config.device_id)
    return renewed
