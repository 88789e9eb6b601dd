"""Enrolment: make the device's own key pair and redeem a claim code with the controller."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from loalang_protocol.keys import KeyPair

from . import config as config_file
from .config import AgentConfig, BrokerConfig

MAX_RESPONSE_BYTES = 64 * 1024


class EnrolmentError(RuntimeError):
    """Enrolment failed; the message says why in words a technician understands."""


def _post_json(url: str, body: dict[str, Any], timeout: float = 20.0) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - the URL scheme is checked by the caller
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            data: dict[str, Any] = json.loads(response.read(MAX_RESPONSE_BYTES))
            return data
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read(4096)).get("detail", "")
        except ValueError:
            detail = ""
        raise EnrolmentError(f"the controller refused enrolment ({exc.code}): {detail}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EnrolmentError(f"cannot reach the controller at {url}: {reason}") from None
    except ValueError:
        raise EnrolmentError("the controller's answer is not JSON") from None


def enroll(controller_url: str, code: str, config_path: Path, data_dir: Path | None = None) -> AgentConfig:
    """Enrol this device and write its configuration; the private key never leaves data_dir."""
    if not controller_url.startswith(("http://", "https://")):
        raise EnrolmentError("--controller must be an http:// or https:// URL")
    data_dir = data_dir or config_path.parent
    key = KeyPair.generate()
    answer = _post_json(controller_url.rstrip("/") + "/api/v1/enroll",
                        {"code": code, "public_key": key.public_text})
    try:
        broker = answer["broker"]
        config = AgentConfig(
            device_id=answer["device_id"], controller_url=answer["controller_url"],
            root_public_key=answer["root_public_key"], areas=answer["areas"], data_dir=data_dir,
            broker=BrokerConfig(
                host=broker["host"], port=broker["port"], username=broker["username"],
                password=broker["password"], client_id=broker["client_id"], keepalive=broker["keepalive"],
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise EnrolmentError(f"the controller's answer is incomplete: {exc}") from None
    _reset_state_if_other_device(config_path, data_dir, config.device_id)
    key.save(config.key_file)
    config_file.save(config, config_path)
    return config


def _reset_state_if_other_device(config_path: Path, data_dir: Path, device_id: str) -> None:
    """A board enrolled as another device forgets the old device's state."""
    try:
        previous = config_file.load(config_path).device_id
    except config_file.ConfigError:
        return
    if previous != device_id:
        (data_dir / "state.json").unlink(missing_ok=True)
        shutil.rmtree(data_dir / "outbox", ignore_errors=True)
