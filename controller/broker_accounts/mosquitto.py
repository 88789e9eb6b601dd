"""Mosquitto's dynamic security plugin, administered over MQTT ($CONTROL/dynamic-security/v1).

Each device gets its own client (user name = client id = device id) and its own role with
literal topics: Debian's Mosquitto 2.0.11 does not substitute %c/%u in plugin ACLs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import Any

from loalang_protocol import topics
from loalang_protocol.mqtt import MqttLink, NotConnected

from .base import BrokerLogin, DeviceAccount, device_grants, device_role, device_username

log = logging.getLogger(__name__)

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"
CONTROLLER_ROLE = "loalang-controller"


class DynsecError(RuntimeError):
    """The plugin answered a command with an error."""


def controller_acls() -> list[dict[str, Any]]:
    """The controller's own role: every topic of the protocol, nothing else."""
    return [
        {"acltype": kind, "topic": f"{topics.PREFIX}/#", "allow": True}
        for kind in ("publishClientSend", "publishClientReceive", "subscribePattern", "unsubscribePattern")
    ]


def _device_acls(device_id: str, areas: tuple[str, ...]) -> list[dict[str, Any]]:
    grants = device_grants(device_id, areas)
    acls: list[dict[str, Any]] = []
    acls += [{"acltype": "publishClientSend", "topic": t, "allow": True} for t in grants.publish]
    acls += [{"acltype": "subscribeLiteral", "topic": t, "allow": True} for t in grants.subscribe]
    acls += [
        {"acltype": "subscribeLiteral", "topic": t, "allow": False, "priority": 10}
        for t in grants.subscribe_denied
    ]
    acls += [{"acltype": "subscribePattern", "topic": t, "allow": True} for t in grants.subscribe_patterns]
    return acls


class MosquittoDynsec:
    """BrokerAccounts over Mosquitto's dynamic security plugin."""

    def __init__(self, link: MqttLink, controller_username: str, timeout: float = 10.0) -> None:
        self.link = link
        self.controller_username = controller_username
        self.timeout = timeout
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._lock = asyncio.Lock()
        # first: after a broker restart the answer would otherwise wait behind every device's birth
        # and report sent again, past the timeout, and the connection would be given up each time
        link.route(RESPONSE_TOPIC, self._on_response, first=True)

    async def _on_response(self, topic: str, payload: bytes, retained: bool) -> None:
        try:
            responses = json.loads(payload)["responses"]
        except (ValueError, KeyError, TypeError):
            log.warning("dynsec: unreadable response dropped")
            return
        for response in responses:
            future = self._waiting.pop(str(response.get("correlationData")), None)
            if future is not None and not future.done():
                future.set_result(response)

    async def command(self, name: str, **fields: Any) -> dict[str, Any]:
        """Send one command and wait for its response; raises DynsecError on error."""
        [response] = await self.commands([(name, fields)], allowed=())
        return response

    async def commands(self, batch: list[tuple[str, dict[str, Any]]],
                       allowed: tuple[str, ...] = ("not found",)) -> list[dict[str, Any]]:
        """Send several commands in one message (one round trip; the plugin runs them in order) and
        wait for every response; raises DynsecError on the first error not allowed."""
        loop = asyncio.get_running_loop()
        correlations = [secrets.token_hex(8) for _ in batch]
        futures = [loop.create_future() for _ in batch]
        self._waiting.update(zip(correlations, futures, strict=True))
        body = {"commands": [{"command": name, "correlationData": correlation, **fields}
                             for (name, fields), correlation in zip(batch, correlations, strict=True)]}
        try:
            await self.link.publish(CONTROL_TOPIC, json.dumps(body).encode(), qos=1)
            async with asyncio.timeout(self.timeout):
                responses: list[dict[str, Any]] = await asyncio.gather(*futures)
        finally:
            for correlation in correlations:
                self._waiting.pop(correlation, None)
        for (name, _), response in zip(batch, responses, strict=True):
            error = str(response.get("error") or "")
            if error and not any(allowed_error in error.lower() for allowed_error in allowed):
                raise DynsecError(f"{name}: {error}")
        return responses

    async def _ignore_missing(self, name: str, **fields: Any) -> None:
        try:
            await self.command(name, **fields)
        except DynsecError as exc:
            if "not found" not in str(exc).lower():
                raise

    async def prepare(self) -> None:
        """Make sure the controller's account may use every topic of the protocol.

        The broker's set-up already grants this; when it has not, the role is added here,
        and the plugin then disconnects the controller once, which reconnects by itself.
        """
        client = await self.command("getClient", username=self.controller_username)
        roles = {r.get("rolename") for r in client.get("data", {}).get("client", {}).get("roles", [])}
        if CONTROLLER_ROLE in roles:
            return
        try:
            await self.command("createRole", rolename=CONTROLLER_ROLE, acls=controller_acls())
        except DynsecError as exc:
            if "already exists" not in str(exc).lower():
                raise
        try:
            await self.command("addClientRole", username=self.controller_username, rolename=CONTROLLER_ROLE)
        except (TimeoutError, NotConnected):
            log.info("dynsec: controller role added; reconnecting as the broker asked")

    async def provision_device(self, account: DeviceAccount) -> BrokerLogin:
        """Replace the device's client and role; deleting the client cuts any old session."""
        role = device_role(account.device_id)
        async with self._lock:
            await self._delete_legacy_client(account.device_id)
            await self.commands([
                ("deleteClient", {"username": account.username}),
                ("deleteRole", {"rolename": role}),
                ("createRole", {"rolename": role, "acls": _device_acls(account.device_id, account.areas)}),
                ("createClient", {"username": account.username, "password": account.password,
                                  "clientid": account.client_id, "roles": [{"rolename": role}],
                                  "textname": f"loalang device {account.device_id}"}),
            ])
        log.info("device %s: broker account provisioned", account.device_id)
        return BrokerLogin(account.username, account.password, account.client_id)

    async def update_device_areas(self, device_id: str, areas: tuple[str, ...]) -> None:
        """Rewrite the device's role for its new area chain."""
        role = device_role(device_id)
        async with self._lock:
            current = await self.command("getRole", rolename=role)
            removed = [("removeRoleACL", {"rolename": role, "acltype": acl["acltype"], "topic": acl["topic"]})
                       for acl in current.get("data", {}).get("role", {}).get("acls", [])]
            added = [("addRoleACL", {"rolename": role, **acl}) for acl in _device_acls(device_id, areas)]
            await self.commands(removed + added, allowed=())
        log.info("device %s: broker role updated for areas %s", device_id, "/".join(areas))

    async def revoke_device(self, device_id: str) -> None:
        """Delete the device's client (which disconnects it) and its role."""
        async with self._lock:
            await self._delete_legacy_client(device_id)
            await self.commands([("deleteClient", {"username": device_username(device_id)}),
                                 ("deleteRole", {"rolename": device_role(device_id)})])
        log.info("device %s: broker account revoked", device_id)

    async def close(self) -> None:
        """Nothing of its own to close: it speaks through the controller's MQTT link."""

    async def _delete_legacy_client(self, device_id: str) -> None:
        """Delete the account a device enrolled before the devices' namespace (named by the bare
        device id), only when it carries the device's own role: never another party's account."""
        try:
            found = await self.command("getClient", username=device_id)
        except DynsecError:
            return  # no such account
        roles = {r.get("rolename") for r in found.get("data", {}).get("client", {}).get("roles", [])}
        if device_role(device_id) in roles and device_id != self.controller_username:
            await self._ignore_missing("deleteClient", username=device_id)
