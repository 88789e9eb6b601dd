"""An asyncio face for paho-mqtt, shared by the controller and the agent.

paho is driven from the event loop through its socket callbacks (no network thread, no
select()), so one process can hold thousands of connections. The rest of the code sees
async functions: publish() and subscribe() wait for the broker's acknowledgement, handlers
are coroutines run one at a time (in arrival order within each lane of the inbox, inbox.py: what
must be kept goes before what may be shed), and a failing handler is logged with its topic
without stopping the others. The link reconnects with exponential backoff and full
jitter; an authentication failure is fatal and raised from run(). Given several broker addresses
(the nodes of a cluster), it connects first to one chosen at random and moves to the next one after
a failed attempt or a lost connection (broker_addresses.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import select
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from .broker_addresses import AddressRotation, BrokerAddress
from .inbox import Classifier, Inbox, InboxLimits, SourceOf

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes, bool], Awaitable[None]]
SUBSCRIPTION_REFUSED = 0x80
CUTS_BEFORE_NEW_CLIENT_ID = 3  # see LinkSettings.fresh_client_id
_AUTH_FAILURES = {4, 5, 134, 135}  # 3.1.1: bad user name or password, not authorised
# How long the link reads off its socket per turn of the event loop at most. paho reads one packet a
# call when nothing is in flight: a controller that subscribes again after a broker restart is sent
# hundreds of retained births and reports, and at one packet a turn of a busy loop the subscriptions'
# answers behind them came after the 10 s acknowledgement timeout, so the link connected again, and
# again. Bounded by time, not packets: under a flood, reading on unbounded stood the loop still.
READ_TURN_S = 0.005


class AuthenticationFailed(RuntimeError):
    """The broker refused the credentials; retrying will not help."""


class NotConnected(RuntimeError):
    """A publish or subscribe was attempted while the link is down."""


class AckTimeout(TimeoutError):
    """The broker did not answer a publish or subscribe in time (a broker that hangs)."""


@dataclass
class Backoff:
    """Exponential backoff with full jitter, so a fleet does not reconnect in the same second."""

    window: float = 5.0
    cap: float = 60.0
    attempt: int = 0

    def next_delay(self) -> float:
        """Delay before the next attempt: uniform over a window that doubles up to the cap. The count
        of attempts stops growing once the window has reached the cap, so a link that fails for days
        (a 4G tower down through a typhoon) goes on at the cap instead of overflowing."""
        span = min(self.cap, self.window * (2 ** self.attempt))
        if span < self.cap:
            self.attempt += 1
        return random.uniform(0, span)

    def reset(self) -> None:
        """Start again from the smallest window after a success."""
        self.attempt = 0


@dataclass
class LinkSettings:
    """Where and as whom to connect."""

    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    keepalive: int = 30
    tls_ca_file: str | None = None
    will: tuple[str, bytes, int, bool] | None = None
    backoff: Backoff = field(default_factory=Backoff)
    ack_timeout: float = 10.0
    connect_timeout: float = 10.0
    sheddable: Classifier | None = None  # which incoming topics may be shed under load (see inbox.py)
    source_of: SourceOf | None = None  # who sent a topic's messages, each limited alone (see inbox.py)
    kept_class: Classifier | None = None  # the class of a kept topic, for limits per source (inbox.py)
    inbox: InboxLimits = field(default_factory=InboxLimits)
    addresses: tuple[BrokerAddress, ...] = ()  # the nodes of a broker cluster; empty: host and port alone
    resubscribe: Backoff = field(default_factory=lambda: Backoff(window=2.0, cap=60.0))  # a refused one
    # A new client id after CUTS_BEFORE_NEW_CLIENT_ID connections in a row were cut while the
    # subscriptions were renewed (a broker that lost track of the session: docs/nats.md); None: never.
    fresh_client_id: Callable[[], str] | None = None

    def broker_addresses(self) -> list[BrokerAddress]:
        """Every address the link may connect to."""
        return list(self.addresses) or [BrokerAddress(self.host, self.port)]


class MqttLink:
    """One MQTT connection, kept up until close()."""

    def __init__(self, settings: LinkSettings) -> None:
        self.settings = settings
        self.addresses = AddressRotation(settings.broker_addresses())
        self.connected = asyncio.Event()
        self.on_connected: Callable[[], Awaitable[None]] | None = None
        # on each connection, once the broker has granted every subscription (at once or asked again)
        self.on_listening: Callable[[], Awaitable[None]] | None = None
        self.before_connect: Callable[[], None] | None = None
        # told the topic of each live (not retained) message as it comes off the socket, before the
        # inbox may shed it and however long it then waits: its sender was there at that moment
        self.on_arrival: Callable[[str], None] | None = None
        self._routes: list[tuple[str, Handler]] = []
        self._subscriptions: dict[str, int] = {}
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self.inbox: Inbox[paho.MQTTMessage] = Inbox(settings.sheddable, settings.inbox,
                                                    settings.source_of, settings.kept_class)
        self._closing = False
        self._session_up = False
        self._lost = asyncio.Event()
        self.lost_at: float | None = None  # wall time the last connection was lost
        # wall time the broker accepted the connection up now (before its subscriptions were renewed)
        self.connected_at: float | None = None
        self._connect_result: asyncio.Future[int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connections = 0
        self.failed_attempts = 0
        self.bytes_sent = 0
        self.messages_in = 0
        self.messages_out = 0
        self._fd = -1
        self._connecting = False  # paho runs in a worker thread while it connects
        self._asking_again: asyncio.Task[None] | None = None
        self._planned_reconnect = False
        self._renewing = False  # connected, subscriptions being renewed
        self._cut_while_renewing = 0  # connections in a row cut then
        self.client = self._make_client()

    def _make_client(self) -> paho.Client:
        s = self.settings
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=s.client_id,
            protocol=MQTTProtocolVersion.MQTTv311, clean_session=True,
        )
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls_ca_file:
            client.tls_set(ca_certs=s.tls_ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if s.will is not None:
            topic, payload, qos, retain = s.will
            client.will_set(topic, payload, qos, retain)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_ack
        client.on_subscribe = self._on_subscribe
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        return client

    def set_will(self, topic: str, payload: bytes, qos: int = 1, retain: bool = True) -> None:
        """Change the last will used from the next connection on."""
        self.settings.will = (topic, payload, qos, retain)
        self.client.will_set(topic, payload, qos, retain)

    def route(self, topic_filter: str, handler: Handler, qos: int = 1, first: bool = False) -> None:
        """Subscribe to topic_filter (now and after every reconnect) and hand matches to handler;
        with first, ahead of everything queued (answers to the owner's own requests, see inbox.py)."""
        self._routes.append((topic_filter, handler))
        self._subscriptions[topic_filter] = qos
        if first:
            self.inbox.serve_first(topic_filter)

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect and stay connected until close(); raises AuthenticationFailed."""
        self._loop = asyncio.get_running_loop()
        _Housekeeping.join(self)
        dispatcher = asyncio.create_task(self._dispatch_loop())
        try:
            while not self._closing:
                try:
                    await self._connect_once()
                except AuthenticationFailed:
                    raise
                except Exception as exc:  # the link outlives every failure but refused credentials
                    self.failed_attempts += 1
                    self._abandon_connection()
                    self._log_failed_attempt(exc)
                    self._count_cut_while_renewing()
                else:
                    await self._lost.wait()
                if self._closing:
                    break
                if self._planned_reconnect:
                    self._planned_reconnect = False
                    continue
                self.addresses.advance()
                delay = self.settings.backoff.next_delay()
                log.info("mqtt %s: reconnecting in %.1f s", self.settings.client_id, delay)
                await asyncio.sleep(delay)
        finally:
            dispatcher.cancel()
            if self._asking_again is not None:
                self._asking_again.cancel()
            _Housekeeping.leave(self)

    async def _connect_once(self) -> None:
        assert self._loop is not None
        self._lost.clear()
        self._connect_result = self._loop.create_future()
        s = self.settings
        if self.before_connect is not None:
            self.before_connect()
        self._forget_socket()
        self._connecting = True
        try:
            await self._loop.run_in_executor(None, self._blocking_connect)
        finally:
            self._connecting = False
        self._watch_socket()
        async with asyncio.timeout(s.connect_timeout):
            code = await self._connect_result
        if code in _AUTH_FAILURES:
            self.client.disconnect()
            raise AuthenticationFailed(f"broker refused the credentials of {s.username!r}")
        if code != 0:
            self.client.disconnect()
            raise ConnectionError(f"broker refused the connection (code {code})")
        self.connections += 1
        self.connected_at = time.time()
        self._session_up = True
        s.backoff.reset()
        log.info("mqtt %s: connected to %s", s.client_id, self.addresses.current)
        self._renewing = True
        await self._after_connect()
        self._renewing = False
        self._cut_while_renewing = 0

    def _count_cut_while_renewing(self) -> None:
        """A connection the broker accepted and then cut while the subscriptions were renewed, again
        and again on every node, is a session the broker lost track of (NATS 2.9 keeps refusing to
        store it until it restarts: docs/nats.md): with fresh_client_id, the link becomes a new
        client. Its session is clean anyway; what it subscribes to is renewed on every connection."""
        if not self._renewing:
            return
        self._renewing = False
        self._cut_while_renewing = min(self._cut_while_renewing + 1, CUTS_BEFORE_NEW_CLIENT_ID)
        fresh = self.settings.fresh_client_id
        if fresh is None or self._cut_while_renewing < CUTS_BEFORE_NEW_CLIENT_ID:
            return
        old, self.settings.client_id = self.settings.client_id, fresh()
        self._cut_while_renewing = 0
        self.client = self._make_client()
        log.warning("mqtt %s: the broker cut %d connections in a row while they subscribed; "
                    "connecting from now on as %s", old, CUTS_BEFORE_NEW_CLIENT_ID, self.settings.client_id)

    def _log_failed_attempt(self, exc: Exception) -> None:
        expected = isinstance(exc, (TimeoutError, OSError, ConnectionError, NotConnected))
        log.log(logging.INFO if expected else logging.ERROR, "mqtt %s: connection to %s failed: %s",
                self.settings.client_id, self.addresses.current, str(exc) or type(exc).__name__,
                exc_info=not expected)

    def _abandon_connection(self) -> None:
        """After a failed attempt, leave nothing that looks connected: a connection that answered
        the CONNECT but failed after it is closed, and whatever waited on it is told."""
        if self.client.is_connected():
            self.client.disconnect()
        self._mark_lost()

    def _blocking_connect(self) -> None:
        address = self.addresses.current
        self.client.connect(address.host, address.port, keepalive=self.settings.keepalive)

    def use_login(self, username: str | None, password: str | None) -> None:
        """Present these credentials from the next connection on; the connection up now stays."""
        self.settings.username, self.settings.password = username, password
        self.client.username_pw_set(username, password)

    def reconnect_now(self) -> None:
        """Close the connection cleanly (no will) and connect again at once, to the same address,
        without the backoff a lost connection waits (new credentials, chosen at a quiet moment)."""
        if self._session_up:
            self._planned_reconnect = True
            self.client.disconnect()

    def use_addresses(self, addresses: list[BrokerAddress]) -> None:
        """Connect to these addresses from the next attempt on; the connection up now stays."""
        kept = self.addresses.replace(addresses)
        self.settings.addresses = tuple(addresses)
        log.info("mqtt %s: broker addresses now %s%s", self.settings.client_id,
                 ", ".join(str(a) for a in addresses), "" if kept else " (the current one is not among them)")

    async def _after_connect(self) -> None:
        # Routes come and go while the subscriptions are sent again (a stream joined or left): each
        # round takes those not sent yet, and one removed meanwhile is not sent at all.
        sent: set[str] = set()
        refused: list[str] = []
        while pending := [(f, qos) for f, qos in self._subscriptions.items() if f not in sent]:
            for topic_filter, qos in pending:
                sent.add(topic_filter)
                if topic_filter not in self._subscriptions:
                    continue
                granted = await self.subscribe(topic_filter, qos)
                if granted == SUBSCRIPTION_REFUSED:
                    log.error("mqtt %s: subscription to %s refused", self.settings.client_id, topic_filter)
                    refused.append(topic_filter)
        self.connected.set()
        if refused:
            self._asking_again = asyncio.create_task(self._subscribe_again(refused, self.connections))
        if not refused and self.on_listening is not None:
            await self._run_on_connected(self.on_listening)
        if self.on_connected is not None:
            await self._run_on_connected(self.on_connected)

    async def _run_on_connected(self, work: Callable[[], Awaitable[None]]) -> None:
        """The owner's work on each connection: when the connection fails under it, connect again;
        any other failure is the owner's and is logged, and the connection stays up."""
        try:
            await work()
        except (NotConnected, TimeoutError):
            raise
        except Exception:
            log.exception("mqtt %s: the work after connecting failed", self.settings.client_id)

    async def _subscribe_again(self, refused: list[str], connection: int) -> None:
        """Ask again, with backoff, for the subscriptions this connection was refused: a cluster node
        refuses them for a while after another node is lost (docs/nats.md). The next connection
        subscribes to everything anyway, so this stops when this one ends. Once all are granted, the
        owner hears that the link listens (on_listening)."""
        backoff = Backoff(self.settings.resubscribe.window, self.settings.resubscribe.cap)
        while refused:
            await asyncio.sleep(backoff.next_delay())
            if not self._session_up or self.connections != connection:
                return
            refused = [f for f in refused if f in self._subscriptions and not await self._granted_again(f)]
        if self.on_listening is not None:
            with contextlib.suppress(NotConnected, TimeoutError):  # the next connection does it again
                await self._run_on_connected(self.on_listening)

    async def _granted_again(self, topic_filter: str) -> bool:
        try:
            granted = await self.subscribe(topic_filter, self._subscriptions.get(topic_filter, 1))
        except (NotConnected, TimeoutError):
            return False
        if granted == SUBSCRIPTION_REFUSED:
            return False
        log.info("mqtt %s: subscription to %s granted when asked again", self.settings.client_id,
                 topic_filter)
        return True

    async def close(self) -> None:
        """Disconnect cleanly (no last will) and stop reconnecting."""
        self._closing = True
        if self.client.is_connected():
            self.client.disconnect()
        self._lost.set()
        await asyncio.sleep(0)

    def drop(self) -> None:
        """Close the socket abruptly, as a lost network would (the broker sends the will)."""
        sock = self.client.socket()
        if sock is not None:
            self._forget_socket()
            sock.close()

    # -- publishing and subscribing ----------------------------------------------------------

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Publish, waiting for the broker's acknowledgement at QoS 1."""
        if not self._session_up:
            raise NotConnected(topic)
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        self.bytes_sent += len(payload)
        self.messages_out += 1
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise NotConnected(f"{topic}: {paho.error_string(info.rc)}")
        if qos > 0:
            await self._await_ack(info.mid)

    async def subscribe(self, topic_filter: str, qos: int = 1) -> int:
        """Subscribe now; returns the granted QoS, or SUBSCRIPTION_REFUSED."""
        result, mid = self.client.subscribe(topic_filter, qos)
        if result != paho.MQTT_ERR_SUCCESS or mid is None:
            raise NotConnected(f"subscribe {topic_filter}")
        granted: list[int] = await self._await_ack(mid)
        return granted[0] if granted else SUBSCRIPTION_REFUSED

    async def unsubscribe(self, topic_filter: str) -> None:
        """Stop receiving topic_filter and forget its route."""
        self._subscriptions.pop(topic_filter, None)
        self._routes = [(f, h) for f, h in self._routes if f != topic_filter]
        if self._session_up:
            self.client.unsubscribe(topic_filter)

    @property
    def pending_acknowledgements(self) -> int:
        """Publishes and subscriptions waiting for the broker's answer now."""
        return len(self._pending)

    async def _await_ack(self, mid: int) -> Any:
        """The broker's answer to message id mid. Only an answer that arrives while it is awaited
        counts: paho numbers every message (QoS 0 too) and the ids wrap after 65,535, so an answer
        kept from earlier would acknowledge a later message nobody acknowledged."""
        assert self._loop is not None
        future: asyncio.Future[Any] = self._loop.create_future()
        self._pending[mid] = future
        try:
            async with asyncio.timeout(self.settings.ack_timeout):
                return await future
        except TimeoutError:
            waited = self.settings.ack_timeout
            raise AckTimeout(f"the broker did not acknowledge within {waited:g} s") from None
        finally:
            if self._pending.get(mid) is future:
                del self._pending[mid]

    # -- paho callbacks (always on the event loop thread, except during connect) ------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._threadsafe(self._resolve_connect, int(reason.value if hasattr(reason, "value") else reason))

    def _resolve_connect(self, code: int) -> None:
        if self._connect_result is not None and not self._connect_result.done():
            self._connect_result.set_result(code)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._threadsafe(self._mark_lost)

    def _mark_lost(self) -> None:
        was_connected = self.connected.is_set()
        if was_connected:
            self.lost_at = time.time()
        self._session_up = False
        self.connected.clear()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(NotConnected("connection lost"))
        self._pending.clear()  # a late answer on the next connection must not meet these ids
        self._lost.set()
        if was_connected and not self._closing and not self._planned_reconnect:
            log.warning("mqtt %s: connection lost", self.settings.client_id)

    def _on_message(self, client: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        self.messages_in += 1
        if self.on_arrival is not None and not message.retain:
            self.on_arrival(message.topic)
        self.inbox.put(message.topic, message)

    def _on_ack(self, client: Any, userdata: Any, mid: int, reason: Any = None, props: Any = None) -> None:
        self._resolve(mid, None)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, codes: Any, props: Any) -> None:
        self._resolve(mid, [int(getattr(c, "value", c)) for c in codes])

    def _resolve(self, mid: int, value: Any) -> None:
        """Hand the broker's answer to whoever waits for it; nobody waits for a QoS 0 publish."""
        future = self._pending.get(mid)
        if future is not None and not future.done():
            future.set_result(value)

    # paho passes its SocketLike (a socket, an SSL socket or its websocket wrapper): typed Any.
    # The event loop watches one descriptor per link. While paho connects in a worker thread its
    # socket callbacks are ignored and the socket is watched once connect returns: a callback
    # deferred from that thread could run after the socket closed and its descriptor number went
    # to another link's socket (a simulator runs thousands of links in one process).

    def _watch_socket(self) -> None:
        """After connect: watch the socket paho holds now, for writing too if it has data queued."""
        sock = self.client.socket()
        if sock is None or sock.fileno() < 0:
            return
        self._add_reader(sock)
        if self.client.want_write():
            self._add_writer(sock)

    def _forget_socket(self) -> None:
        """Stop watching the descriptor (before its socket closes, so that it still names it)."""
        assert self._loop is not None
        if self._fd >= 0:
            with contextlib.suppress(RuntimeError):  # the loop closed its watch already
                self._loop.remove_reader(self._fd)
                self._loop.remove_writer(self._fd)
            self._fd = -1

    def _on_socket_open(self, client: Any, userdata: Any, sock: Any) -> None:
        if not self._connecting:
            self._threadsafe(self._add_reader, sock)

    def _add_reader(self, sock: Any) -> None:
        assert self._loop is not None
        if sock.fileno() < 0:
            return
        self._forget_socket()
        self._fd = sock.fileno()
        self._loop.add_reader(self._fd, self._read)

    def _read(self) -> None:
        """Read what the socket holds, for READ_TURN_S at most; if more is left, read on in the next
        turn (data TLS has already decrypted makes the descriptor no more readable)."""
        deadline = time.monotonic() + READ_TURN_S
        while self.client.loop_read() == paho.MQTT_ERR_SUCCESS and self._more_to_read():
            if time.monotonic() >= deadline:
                if self._loop is not None:
                    self._loop.call_soon(self._read)
                return

    def _more_to_read(self) -> bool:
        sock = self.client.socket()
        if sock is None or self._fd < 0:
            return False
        if isinstance(sock, ssl.SSLSocket) and sock.pending() > 0:
            return True
        poller = select.poll()  # not select(): descriptors past 1,024 in a simulator
        poller.register(self._fd, select.POLLIN)
        return bool(poller.poll(0))

    def _on_socket_close(self, client: Any, userdata: Any, sock: Any) -> None:
        if not self._connecting:
            self._threadsafe(self._forget_socket)

    def _on_register_write(self, client: Any, userdata: Any, sock: Any) -> None:
        if not self._connecting:
            self._threadsafe(self._add_writer, sock)

    def _add_writer(self, sock: Any) -> None:
        assert self._loop is not None
        if self._fd >= 0 and sock.fileno() == self._fd:
            try:
                self._loop.add_writer(self._fd, self.client.loop_write)
            except RuntimeError:
                self._socket_dead()

    def _check_watch(self) -> None:
        """uvloop stops watching a socket after an error on it (a reset by a restarted broker) and
        says nothing: paho, which read the data before the error, would wait for the keepalive
        (some 30 s for the controller) to notice. Watching it again finds out."""
        assert self._loop is not None
        if self._fd >= 0:
            try:
                self._loop.add_reader(self._fd, self._read)
            except (RuntimeError, OSError, ValueError):  # uvloop's closed watch; a closed descriptor
                self._socket_dead()

    def _socket_dead(self) -> None:
        log.info("mqtt %s: the event loop gave up the socket after an error on it", self.settings.client_id)
        self._fd = -1
        self._mark_lost()

    def _on_unregister_write(self, client: Any, userdata: Any, sock: Any) -> None:
        if not self._connecting:
            self._threadsafe(self._remove_writer)

    def _remove_writer(self) -> None:
        assert self._loop is not None
        if self._fd >= 0:
            self._loop.remove_writer(self._fd)

    def _threadsafe(self, func: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            func(*args)
        else:
            self._loop.call_soon_threadsafe(func, *args)

    # -- background loops -------------------------------------------------------------------

    def housekeeping(self) -> None:
        """paho's periodic work: keepalive pings and timeouts (called every second), and a look at
        whether the event loop still watches the socket."""
        if self.client.socket() is not None:
            self.client.loop_misc()
            if self._loop is not None and self._session_up:
                self._check_watch()

    async def _dispatch_loop(self) -> None:
        while True:
            message = await self.inbox.get()
            for topic_filter, handler in list(self._routes):
                if paho.topic_matches_sub(topic_filter, message.topic):
                    await self._call(handler, message)

    async def _call(self, handler: Handler, message: paho.MQTTMessage) -> None:
        try:
            await handler(message.topic, bytes(message.payload), bool(message.retain))
        except Exception:
            log.exception("mqtt %s: handler for %s failed", self.settings.client_id, message.topic)


class _Housekeeping:
    """One task per event loop calls every running link's housekeeping each second: a simulator's
    thousands of links cost one wake-up a second, not one each."""

    _links: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, set[MqttLink]] = weakref.WeakKeyDictionary()
    _tasks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = \
        weakref.WeakKeyDictionary()

    @classmethod
    def join(cls, link: MqttLink) -> None:
        loop = asyncio.get_running_loop()
        cls._links.setdefault(loop, set()).add(link)
        task = cls._tasks.get(loop)
        if task is None or task.done():
            cls._tasks[loop] = loop.create_task(cls._run(loop))

    @classmethod
    def leave(cls, link: MqttLink) -> None:
        for links in cls._links.values():
            links.discard(link)

    @classmethod
    async def _run(cls, loop: asyncio.AbstractEventLoop) -> None:
        while cls._links.get(loop):
            await asyncio.sleep(1.0)
            for link in list(cls._links.get(loop, ())):
                try:
                    link.housekeeping()
                except Exception:
                    log.exception("mqtt %s: housekeeping failed", link.settings.client_id)
