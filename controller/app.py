"""The FastAPI application: factory and lifespan (database, Redis, MQTT, keys)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from loalang_protocol import topics
from loalang_protocol.inbox import InboxLimits
from loalang_protocol.mqtt import Backoff, LinkSettings, MqttLink
from loalang_protocol.releases import MAX_RELEASE_BYTES

from . import __version__, redis_client, revocations
from .airtime.service import Airtime
from .api import (
    alerts,
    areas,
    auth,
    broadcasts,
    bulletins,
    device_logs,
    devices,
    enroll,
    error_answers,
    feed,
    fleet,
    live,
    media,
    notifications,
    occurrences,
    outlines,
    releases,
    reports,
    system,
    users,
)
from .api.schemas import SlugField
from .broadcasting.reports import reporter
from .broker_accounts.base import BrokerAccounts
from .broker_accounts.mosquitto import MosquittoDynsec
from .broker_accounts.nats import NatsAccounts
from .broker_accounts.nats_revocations import RevocationBook
from .broker_accounts.nats_trust import ControllerTrust
from .context import Services
from .counters import Counters
from .db.models import User
from .db.session import Database, migrate
from .fleet import horizon
from .fleet.outline_file import MAX_FILE_BYTES as MAX_OUTLINE_BYTES
from .jobs import Jobs
from .keyring import KEYS_DIR, Keyring, KeyringError, init_keys
from .limits import MAX_BODY_BYTES, BodySizeLimit
from .live.registry import LiveSessions
from .loop_watch import LoopWatch
from .media import speech
from .media.store import MediaStore
from .mqtt.bridge import (
    DEVICE_LIMITS,
    DeviceBridge,
    controller_state,
    kept_class,
    presence_watchdog,
    sender,
    sheddable,
)
from .notify.digest import digester
from .notify.outbox import sender as notification_sender
from .notify.plays import play_watch
from .notify.watch import presence_watch
from .presence import PresenceStore
from .releases.rollouts import driver as rollout_driver
from .scheduling.bulletins import SPEECH_JOB, speech_interrupted
from .scheduling.leader import Leadership, fence_reader
from .scheduling.scheduler import Scheduler
from .security.attempts import Attempts
from .security.passwords import hash_password
from .security.roles import Role
from .security.tokens import TokenStore
from .settings import Settings
from .signer import Signer
from .web import FIELD_PAGE, ConsoleFiles

log = logging.getLogger(__name__)
BROKER_WAIT_S = 15.0
OUTLINE_REQUEST_BYTES = 2 * MAX_OUTLINE_BYTES  # beyond the file's own limit, refused with its code
GZIP_MIN_BYTES = 1000
# Event streams (the feed, a broadcast followed) and audio stay as they are: compressing would hold
# events back and cannot shrink audio; media downloads resume by byte range.
NEVER_GZIPPED = (*DEFAULT_EXCLUDED_CONTENT_TYPES, "application/octet-stream", "application/ogg")
BROKER_SAVE_WINDOW_MS = 60_000  # Mosquitto saves retained messages every 30 s (broker/*.conf), and a margin
CONTROLLER_KEPT_MAX = 200_000  # a province's births, reports and receipts after an outage all wait


def load_keyring(settings: Settings) -> Keyring:
    """The signing keys; demo and test controllers make their own on first start."""
    folder = settings.data_dir / KEYS_DIR
    try:
        return Keyring.load(folder)
    except KeyringError:
        if settings.environment == "production" or (folder / "root.pub").exists():
            raise
        init_keys(folder, settings.signing_cert_days)
        log.warning("made a new root and signing key in %s (%s mode)", folder, settings.environment)
        return Keyring.load(folder)


def ensure_admin(db: Database, settings: Settings) -> None:
    """Create the first admin when there is no user at all."""
    with db.session() as session:
        if session.scalars(select(User).limit(1)).first() is not None:
            return
        password = settings.admin_password.get_secret_value()
        if not password:
            raise RuntimeError("no user exists yet: set LOALANG_ADMIN_PASSWORD for the first admin")
        session.add(User(username=settings.admin_username, password_hash=hash_password(password),
                         role=Role.ADMIN.value, area_id=None))
    log.info("created admin user %r", settings.admin_username)


def build_link(settings: Settings) -> MqttLink:
    """The controller's MQTT connection, with its retained offline state as last will."""
    link = MqttLink(LinkSettings(
        host=settings.mqtt_host, port=settings.mqtt_port, addresses=tuple(settings.controller_addresses()),
        client_id=f"controller-{settings.instance_id}",
        fresh_client_id=lambda: f"controller-{settings.instance_id}-{secrets.token_hex(4)}",
        username=settings.mqtt_username, password=settings.broker_password(),
        tls_ca_file=settings.mqtt_tls_ca_file, keepalive=15, sheddable=sheddable, source_of=sender,
        kept_class=kept_class,
        inbox=InboxLimits(kept_max=CONTROLLER_KEPT_MAX, kept_per_source=DEVICE_LIMITS),
        # One client, not a fleet: back within a second or two of the broker (live audio reaches
        # nobody until then); a broker is not hurt by one client trying every few seconds.
        backoff=Backoff(window=0.5, cap=3.0),
    ))
    link.set_will(
        topics.controller_state(settings.instance_id), controller_state(settings.instance_id, False)
    )
    return link


def broker_accounts(settings: Settings, link: MqttLink, db: Database) -> BrokerAccounts:
    """The account system of the broker the settings name."""
    if settings.broker_kind == "nats":
        assert settings.nats_trust_dir is not None  # the settings' own check
        trust = ControllerTrust.load(settings.nats_trust_dir)
        return NatsAccounts(trust, settings.nats_server_list(), RevocationBook(db, trust.account_public),
                            login_lifetime_s=settings.nats_login_lifetime_s)
    return MosquittoDynsec(link, settings.mqtt_username)


async def start_services(settings: Settings) -> Services:
    """Open the database, Redis and MQTT; wire the handlers."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.sqlalchemy_url())
    await asyncio.to_thread(migrate, settings.sqlalchemy_url())
    ensure_admin(db, settings)
    keyring = load_keyring(settings)
    redis = redis_client.connect(settings.redis_url, settings.sentinel_addresses(),
                                 settings.redis_sentinel_master)
    await redis.ping()
    link = build_link(settings)
    accounts = broker_accounts(settings, link, db)
    services = Services(
        settings=settings, db=db, redis=redis, link=link, keyring=keyring, signer=Signer(keyring, redis),
        accounts=accounts, presence=PresenceStore(redis), tokens=TokenStore(db, settings.token_ttl_s),
        attempts=Attempts(redis, db),
        counters=Counters(), media=MediaStore(settings.data_dir / "media", settings.instance_id),
        jobs=Jobs(redis, settings.instance_id),
        speech=speech.engine(settings.tts_engine, settings.tts_voice, settings.piper_binary,
                             settings.piper_model),
        loop_watch=LoopWatch(db.guard),
    )
    services.media.remove_leftovers()
    services.media.previews.sweep()
    services.jobs.on_interrupted(SPEECH_JOB, partial(speech_interrupted, db))
    await services.jobs.open()

    async def on_listening() -> None:
        # "online" tells the agents their births, events and clock requests are heard: not before
        # every subscription is granted (a cluster node refuses some for a while after losing another)
        await link.publish(topics.controller_state(settings.instance_id),
                           controller_state(settings.instance_id, True), qos=1, retain=True)

    async def on_connected() -> None:
        await accounts.prepare()
        try:
            await revocations.publish(services)
        except Exception:  # the devices keep the list they hold; the next connection publishes it again
            log.exception("the revocation list was not published")
        if link.lost_at is not None:  # a broker restored from its last save holds older copies
            try:
                await horizon.republish_since(services, int(link.lost_at * 1000) - BROKER_SAVE_WINDOW_MS)
            except Exception:  # the next change or horizon refresh publishes them anyway
                log.exception("desired states not published again after the reconnection")

    link.on_connected = on_connected
    link.on_listening = on_listening
    link.route(revocations.topic_of(services), partial(revocations.on_broker_copy, services))
    return services


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; settings come from the environment when not given."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await start_services(settings)
        airtime = Airtime(services, LiveSessions(services))
        app.state.services, app.state.airtime = services, airtime
        loop_watch = asyncio.create_task(services.loop_watch.run(), name="loop-watch")
        bridge = asyncio.create_task(DeviceBridge(services).run(), name="device-bridge")
        mqtt_task = asyncio.create_task(services.link.run(), name="mqtt")
        watchdog = asyncio.create_task(presence_watchdog(services), name="presence-watchdog")
        reports = asyncio.create_task(reporter(services), name="delivery-reports")
        rolling = asyncio.create_task(rollout_driver(services), name="rollouts")
        notifying = [asyncio.create_task(presence_watch(services), name="notify-presence"),
                     asyncio.create_task(play_watch(services), name="notify-plays"),
                     asyncio.create_task(digester(services), name="notify-digest"),
                     asyncio.create_task(notification_sender(services), name="notify-sender")]
        scheduler = asyncio.create_task(
            Scheduler(services, Leadership(services.redis, settings.instance_id, fence_reader(services.db)),
                      airtime).run(),
            name="scheduler")
        try:
            async with asyncio.timeout(BROKER_WAIT_S):
                await services.link.connected.wait()
        except TimeoutError:
            log.error("broker %s:%s not reachable yet; retrying in the background",
                      settings.mqtt_host, settings.mqtt_port)
        yield
        if services.link.connected.is_set():
            await services.link.publish(topics.controller_state(settings.instance_id),
                                        controller_state(settings.instance_id, False), qos=1, retain=True)
        await services.jobs.close()
        await airtime.live.close()
        await services.link.close()
        await services.accounts.close()
        mqtt_task.cancel()
        loop_watch.cancel()
        bridge.cancel()
        watchdog.cancel()
        scheduler.cancel()
        reports.cancel()
        rolling.cancel()
        for task in notifying:
            task.cancel()
        await asyncio.gather(scheduler, return_exceptions=True)
        await services.redis.aclose()
        services.db.engine.dispose()

    app = FastAPI(
        title="loalang controller", version=__version__, lifespan=lifespan,
        description="Central service of the loalang commune radio system: areas, users, devices, enrolment, "
        "the media library, bulletins and their schedules.",
    )
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, exclude_content_types=NEVER_GZIPPED)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES,
                       exceptions={"/api/v1/media": settings.media_max_upload_mb * 1_000_000 + 64 * 1024,
                                   "/api/v1/areas/outlines": OUTLINE_REQUEST_BYTES,
                                   "/api/v1/releases": MAX_RELEASE_BYTES + 64 * 1024})
    api_routers = (auth, outlines, areas, devices, enroll, occurrences, system, users, bulletins, broadcasts,
                   alerts, reports, live, feed, fleet, notifications)
    for module in api_routers:
        app.include_router(module.router, prefix="/api/v1")

    app.include_router(media.router)
    app.include_router(releases.router)
    app.include_router(device_logs.router)
    console = ConsoleFiles(settings.map_tile_url)
    app.mount("/console", console, name="console")

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/console/")

    @app.get("/d/{device_id}", include_in_schema=False)
    async def field_view(device_id: SlugField, request: Request) -> Response:
        return console.page(FIELD_PAGE, request.headers)

    @app.get("/healthz", tags=["system"], summary="Broker and Redis connections")
    async def healthz(request: Request) -> JSONResponse:
        services: Services = request.app.state.services
        broker, redis = services.link.connected.is_set(), await redis_client.reachable(services.redis)
        ok = broker and redis
        return JSONResponse({"ok": ok, "broker": broker, "redis": redis}, status_code=200 if ok else 503,
                            headers=None if ok else {"Retry-After": str(redis_client.RETRY_AFTER_S)})

    error_answers.install(app)
    return app
