"""The dynamic security plugin's first state file, written before the broker's first start.

It holds the controller's account, allowed to administer the plugin over MQTT and to use
every protocol topic, and optionally a health-check account that may read only the
broker's uptime. Every device account is added later by the controller over MQTT.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

from loalang_protocol.files import write_atomic

from .mosquitto import CONTROLLER_ROLE, controller_acls

PBKDF2_ITERATIONS = 101  # what Mosquitto 2.0 itself writes; passwords here are long random tokens
DEFAULT_ACL_ACCESS = {
    "publishClientSend": False, "publishClientReceive": True, "subscribe": False, "unsubscribe": True,
}


def password_entry(password: str) -> dict[str, Any]:
    """The plugin's salted PBKDF2-SHA512 password fields."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS, 64)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": PBKDF2_ITERATIONS,
    }


def _admin_acls() -> list[dict[str, Any]]:
    acls = []
    for topic in ("$CONTROL/dynamic-security/#", "$SYS/#"):
        for kind in ("publishClientSend", "publishClientReceive", "subscribePattern"):
            if not (topic == "$SYS/#" and kind == "publishClientSend"):
                acls.append({"acltype": kind, "topic": topic, "allow": True})
    return acls


def initial_state(
    controller_user: str, controller_password: str,
    health_user: str | None = None, health_password: str | None = None,
) -> dict[str, Any]:
    """The plugin's state with the controller (and health-check) accounts."""
    clients = [{
        "username": controller_user, "textName": "loalang controller",
        "roles": [{"rolename": "dynsec-admin"}, {"rolename": CONTROLLER_ROLE}],
        **password_entry(controller_password),
    }]
    roles = [
        {"rolename": "dynsec-admin", "acls": _admin_acls()},
        {"rolename": CONTROLLER_ROLE, "acls": controller_acls()},
    ]
    if health_user and health_password:
        clients.append({"username": health_user, "textName": "health check",
                        "roles": [{"rolename": "healthcheck"}], **password_entry(health_password)})
        roles.append({"rolename": "healthcheck", "acls": [
            {"acltype": "subscribeLiteral", "topic": "$SYS/broker/uptime", "allow": True}]})
    return {"clients": clients, "roles": roles, "defaultACLAccess": DEFAULT_ACL_ACCESS}


def write_initial(path: Path, controller_user: str, controller_password: str,
                  health_user: str | None = None, health_password: str | None = None) -> None:
    """Write the first state file atomically, readable by its owner only."""
    state = initial_state(controller_user, controller_password, health_user, health_password)
    write_atomic(path, json.dumps(state, indent=1).encode(), mode=0o600)
