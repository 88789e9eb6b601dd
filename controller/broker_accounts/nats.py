"""BrokerAccounts over a NATS cluster in operator mode (docs/nats.md).

A device's login is a user JWT the controller signs with the account's signing key: no node is told
about it, so provisioning a device costs a signature whatever the fleet's size. Each device keeps one
user key for its life (derived from the signing seed and its id); its older logins stop working
when the devices' account, signed again with a revocation time for that key, reaches the nodes
through the system account. A revoked device's open connection is closed by every node at once.

After a move a device's login is revoked (its area grants are in the JWT) and the agent asks the
controller for a new one with its signed device request.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError

from . import nats_jwt
from .base import BrokerLogin, BrokerUnavailable, DeviceAccount, device_grants, device_username
from .nats_subjects import device_permissions
from .nats_trust import ControllerTrust, mqtt_login

log = logging.getLogger(__name__)

LOGIN_LIFETIME_S = 90 * 86400  # a device's login expires; the agent asks for a new one when refused
CLIENT_ID_SECRET_CHARS = 10  # base32: 50 bits


class NatsBrokerError(BrokerUnavailable):
    """The nodes did not take an account update."""


def device_key_label(device_id: str) -> str:
    """What the device's lifelong user key is derived from."""
    return f"device:{device_id}"


def device_user_seed(trust: ControllerTrust, device_id: str) -> str:
    """The device's lifelong user key."""
    return nats_jwt.derive_user_seed(trust.account_signing_seed, device_key_label(device_id))


def device_client_id(trust: ControllerTrust, device_id: str) -> str:
    """`dev-<id>-<secret>`: NATS 2.9 does not tie a client id to its user, so a device could take
    another's MQTT session by its client id; an id nobody else can derive keeps sessions apart."""
    label = f"client-id:{device_id}".encode()
    digest = hmac.digest(trust.account_signing_seed.encode(), label, hashlib.sha256)
    secret = base64.b32encode(digest).decode().lower()[:CLIENT_ID_SECRET_CHARS]
    return f"{device_username(device_id)}-{secret}"


def device_login_jwt(trust: ControllerTrust, device_id: str, areas: tuple[str, ...], issued_at: int,
                     lifetime_s: int = LOGIN_LIFETIME_S) -> str:
    """The device's MQTT login: its own topics, its areas', one stream at a time, for lifetime_s."""
    publish, subscribe = device_permissions(device_grants(device_id, areas))
    return mqtt_login(trust.account_signing_seed, trust.account_public, device_key_label(device_id),
                      device_username(device_id), publish, subscribe, issued_at, issued_at + lifetime_s)


def revoked_up_to(revocations: dict[str, int], key: str, now: int, lifetime_s: int, for_good: bool
                  ) -> tuple[dict[str, int], int]:
    """The account's revocation list with key's logins revoked, and the time they are revoked up to
    (a new login must be issued after it). JWT times are whole seconds and a login may have been
    issued the second after its own revocation, so the time covers the one listed before, plus one.

    Deleted for good: up to a lifetime ahead, which also covers a login signed for a renewal under
    way as the device was deleted. A device enrolled again after that is revoked up to now instead:
    every login it had was issued before.

    Entries older than a lifetime are dropped: every login they revoke has expired. The list, which
    the nodes take up to 1 MB of, holds only what a lifetime revoked."""
    kept = {k: until for k, until in revocations.items() if until >= now - lifetime_s}
    listed = kept.get(key, 0)
    if for_good:
        until = now + lifetime_s
    elif listed > now:
        until = now
    else:
        until = max(now, listed + 1)
    kept[key] = until
    return kept, until


class NatsAccounts:
    """BrokerAccounts for a NATS cluster whose operator the controller's trust folder signs for."""

    def __init__(self, trust: ControllerTrust, servers: list[str], timeout: float = 5.0,
                 login_lifetime_s: int = LOGIN_LIFETIME_S) -> None:
        self.trust = trust
        self.servers = servers
        self.timeout = timeout
        self.login_lifetime_s = login_lifetime_s
        self._lock = asyncio.Lock()
        self._client: NatsClient | None = None

    async def _system(self) -> NatsClient:
        """The system user's connection, opened on first use; nats-py reconnects it by itself."""
        if self._client is None or self._client.is_closed:
            self._client = await self._connect()
        return self._client

    async def _connect(self) -> NatsClient:
        try:
            return await nats.connect(
                servers=self.servers, user_credentials=str(self.trust.system_creds),
                name="loalang-controller", connect_timeout=self.timeout, max_reconnect_attempts=-1,
                reconnect_time_wait=1, allow_reconnect=True)
        except (NatsError, OSError, TimeoutError) as exc:
            raise NatsBrokerError(f"no NATS node answered: {exc!r}") from None

    async def close(self) -> None:
        """Close the system connection."""
        if self._client is not None and not self._client.is_closed:
            await self._client.close()

    async def prepare(self) -> None:
        """Open the system connection (the controller's own login was signed by nats-init); when no
        node answers yet, the first account change tries again."""
        try:
            await self._system()
        except NatsBrokerError as exc:
            log.warning("NATS system connection not open yet: %s", exc)

    async def provision_device(self, account: DeviceAccount) -> BrokerLogin:
        """Sign a login for the device; its earlier logins stop working first when it had any."""
        async with self._lock:
            # A first enrolment has no earlier login, unless a deleted device of the same id had
            revoked = await self._revoke(account.device_id, only_if_listed=not account.replaces_earlier)
            issued_at = int(time.time()) if revoked is None else revoked + 1
            login = device_login_jwt(self.trust, account.device_id, account.areas, issued_at,
                                     self.login_lifetime_s)
        log.info("device %s: broker login signed", account.device_id)
        return BrokerLogin(account.username, login, device_client_id(self.trust, account.device_id))

    async def update_device_areas(self, device_id: str, areas: tuple[str, ...]) -> None:
        """Revoke the device's login: its grants are in it. The agent, refused, asks for a new one."""
        async with self._lock:
            await self._revoke(device_id)
        log.info("device %s: broker login revoked after a move to %s", device_id, "/".join(areas))

    async def revoke_device(self, device_id: str) -> None:
        """Refuse every login of the device until it enrols again; its connections are closed."""
        async with self._lock:
            await self._revoke(device_id, for_good=True)
        log.info("device %s: broker account revoked", device_id)

    async def _revoke(self, device_id: str, only_if_listed: bool = False,
                      for_good: bool = False) -> int | None:
        """Revoke, on every node, the device key's logins issued up to now (revoked_up_to); returns
        the time revoked up to, or None when only_if_listed and the account does not list the key."""
        key = nats_jwt.public_key(device_user_seed(self.trust, device_id))
        current = await self._current_account()
        listed: dict[str, int] = dict(current["nats"].get("revocations") or {})
        if only_if_listed and key not in listed:
            return None
        revocations, until = revoked_up_to(listed, key, int(time.time()), self.login_lifetime_s, for_good)
        issued_at = max(int(time.time()), int(current["iat"]) + 1)  # the nodes keep only a newer JWT
        await self._publish_account(self.trust.account_jwt(revocations, issued_at))
        return until

    async def _current_account(self) -> dict[str, Any]:
        """The devices' account JWT the nodes hold now, its signature checked."""
        client = await self._system()
        subject = f"$SYS.REQ.ACCOUNT.{self.trust.account_public}.CLAIMS.LOOKUP"
        try:
            answer = await client.request(subject, b"", timeout=self.timeout)
        except (NatsError, TimeoutError) as exc:
            raise NatsBrokerError(f"the nodes did not give the devices' account: {exc!r}") from None
        return nats_jwt.decode_claims(answer.data.decode(), self.trust.trusted_account_issuers())

    async def _publish_account(self, token: str) -> None:
        client = await self._system()
        subject = f"$SYS.REQ.ACCOUNT.{self.trust.account_public}.CLAIMS.UPDATE"
        try:
            answer = await client.request(subject, token.encode(), timeout=self.timeout)
            reply = json.loads(answer.data)
        except (NatsError, TimeoutError, ValueError) as exc:
            raise NatsBrokerError(f"the account update was not answered: {exc!r}") from None
        if "error" in reply:
            raise NatsBrokerError(f"the nodes refused the account update: {reply['error']}")
