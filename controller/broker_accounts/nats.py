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

import nats
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError

from . import nats_jwt
from .base import BrokerLogin, BrokerUnavailable, DeviceAccount, device_grants, device_username
from .nats_revocations import AccountVersion, RevocationBook
from .nats_subjects import device_permissions
from .nats_trust import ControllerTrust, mqtt_login

log = logging.getLogger(__name__)

SETTLE_S = 2.0  # after the last change of a burst, the newest account is sent once more
LOGIN_LIFETIME_S = 90 * 86400  # a device's login expires; the agent asks for a new one when refused
CLIENT_ID_SECRET_CHARS = 10  # base32: 50 bits


class NatsBrokerError(BrokerUnavailable):
    """The nodes did not answer an account look-up or update."""


class NatsUpdateRefused(NatsBrokerError):
    """The nodes answered an account update with an error (as they do for one older than theirs)."""


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


class NatsAccounts:
    """BrokerAccounts for a NATS cluster whose operator the controller's trust folder signs for."""

    def __init__(self, trust: ControllerTrust, servers: list[str], book: RevocationBook,
                 timeout: float = 5.0, login_lifetime_s: int = LOGIN_LIFETIME_S) -> None:
        self.trust = trust
        self.servers = servers
        self.book = book
        self.timeout = timeout
        self.login_lifetime_s = login_lifetime_s
        self._lock = asyncio.Lock()
        self._client: NatsClient | None = None
        self._nodes_agree = False  # the nodes hold the book's newest version (as far as known)
        self._settle: asyncio.Task[None] | None = None

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
        """Send the account once more if a change is settling, then close the system connection."""
        if self._settle is not None and not self._settle.done():
            self._settle.cancel()
            await self._send_newest()  # at once, not after the quiet time
        if self._client is not None and not self._client.is_closed:
            await self._client.close()

    async def prepare(self) -> None:
        """Open the system connection (the controller's own login was signed by nats-init) and bring
        the nodes and the book to the same account; when no node answers yet, the first account
        change tries again."""
        try:
            await self.agree_with_nodes()
        except NatsBrokerError as exc:
            log.warning("NATS account not checked yet: %s", exc)

    async def agree_with_nodes(self) -> None:
        """Bring the nodes and the book to the same account now; NatsBrokerError when no node answers."""
        async with self._lock:
            await self._agree_with_nodes()

    async def _agree_with_nodes(self) -> None:
        """Take up what the nodes list that the book lacks, and send them what they lack."""
        on_nodes = await self._current_account()
        now = int(time.time())
        missing = await asyncio.to_thread(self.book.take_up, on_nodes, now, self.login_lifetime_s)
        if missing is not None:
            await self._publish_account(missing)
            log.info("devices' account sent to the nodes with %d revocations", len(missing.revocations))
        self._nodes_agree = True

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
        the time revoked up to, or None when only_if_listed and the account does not list the key.
        The book keeps the revocation even when no node takes it: the next version carries it."""
        if not self._nodes_agree:
            await self._agree_with_nodes()
        key = nats_jwt.public_key(device_user_seed(self.trust, device_id))
        if only_if_listed and not await asyncio.to_thread(self.book.is_listed, key):
            return None
        revocation = await asyncio.to_thread(self.book.revoke, key, int(time.time()), self.login_lifetime_s,
                                             for_good)
        try:
            await self._publish_account(revocation.version)
        except NatsUpdateRefused:  # another instance sent a newer version, which carries this one
            await self._agree_with_nodes()
        self._settle_later()
        return revocation.until

    def _settle_later(self) -> None:
        """Send the book's newest account again, newly issued, SETTLE_S after the last change.

        Versions sent by two controller instances through different nodes can reach a third node
        out of order. nats-server 2.9 then keeps the newest in its resolver's folder but may act on
        the older one (seen: a node's file listed a revocation, and the node still let that login in,
        for as long as it was watched). A version issued after every change of the burst puts each
        node right; its content is the book's, so the order of these last sends does not matter."""
        if self._settle is not None:
            self._settle.cancel()
        self._settle = asyncio.get_running_loop().create_task(self._settle_after_quiet())

    async def _settle_after_quiet(self) -> None:
        await asyncio.sleep(SETTLE_S)
        await self._send_newest()

    async def _send_newest(self) -> None:
        """Send the book's account, newly issued; a failure is only logged: the next change, or the
        next connection, sends it again."""
        try:
            async with self._lock:
                version = await asyncio.to_thread(self.book.reissue, int(time.time()), self.login_lifetime_s)
                await self._publish_account(version)
        except NatsBrokerError as exc:
            log.warning("devices' account not sent again after its changes: %s", exc)

    async def _current_account(self) -> AccountVersion:
        """The devices' account the node answering holds now (its signature checked): possibly not
        the newest, so it is only ever merged into the book, never taken for it."""
        client = await self._system()
        subject = f"$SYS.REQ.ACCOUNT.{self.trust.account_public}.CLAIMS.LOOKUP"
        try:
            answer = await client.request(subject, b"", timeout=self.timeout)
        except (NatsError, TimeoutError) as exc:
            raise NatsBrokerError(f"the nodes did not give the devices' account: {exc!r}") from None
        claims = nats_jwt.decode_claims(answer.data.decode(), self.trust.trusted_account_issuers())
        return AccountVersion(dict(claims["nats"].get("revocations") or {}), int(claims["iat"]))

    async def _publish_account(self, version: AccountVersion) -> None:
        """Send the nodes a version of the account; when they do not take it, the next change first
        agrees with them again."""
        self._nodes_agree = False
        token = self.trust.account_jwt(version.revocations, version.issued_at)
        client = await self._system()
        subject = f"$SYS.REQ.ACCOUNT.{self.trust.account_public}.CLAIMS.UPDATE"
        try:
            answer = await client.request(subject, token.encode(), timeout=self.timeout)
            reply = json.loads(answer.data)
        except (NatsError, TimeoutError, ValueError) as exc:
            raise NatsBrokerError(f"the account update was not answered: {exc!r}") from None
        if "error" in reply:
            raise NatsUpdateRefused(f"the nodes refused the account update: {reply['error']}")
        self._nodes_agree = True
