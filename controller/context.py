"""The controller's long-lived parts, built once at start and shared by the API, the MQTT bridge
and the CLI."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from redis.asyncio import Redis

from loalang_protocol.mqtt import MqttLink

from .broker_accounts.base import BrokerAccounts
from .counters import Counters
from .db.session import Database
from .jobs import Jobs
from .keyring import Keyring
from .loop_watch import LoopWatch
from .media.speech import SpeechEngine
from .media.store import MediaStore
from .presence import PresenceStore
from .security.attempts import Attempts
from .security.tokens import TokenStore
from .settings import Settings
from .signer import Signer


@dataclass
class Services:
    """The controller's infrastructure, which use cases are given (they hold no rules of their own)."""

    settings: Settings
    db: Database
    redis: Redis
    link: MqttLink
    keyring: Keyring
    signer: Signer
    accounts: BrokerAccounts
    presence: PresenceStore
    tokens: TokenStore
    attempts: Attempts
    counters: Counters
    media: MediaStore
    jobs: Jobs
    speech: SpeechEngine
    loop_watch: LoopWatch
    # set when the server begins to shut down: open event streams end at once instead of holding it
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
