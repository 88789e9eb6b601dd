"""The controller's long-lived parts, built once at start and shared by the API, the MQTT bridge
and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from loalang_protocol.mqtt import MqttLink

from .broker_accounts.base import BrokerAccounts
from .counters import Counters
from .db.session import Database
from .jobs import Jobs
from .keyring import Keyring
from .media.speech import SpeechEngine
from .media.store import MediaStore
from .presence import PresenceStore
from .security.tokens import TokenStore
from .settings import Settings
from .signer import Signer

if TYPE_CHECKING:
    from .live.registry import LiveSessions


@dataclass
class Services:
    """Everything a use case may need."""

    settings: Settings
    db: Database
    redis: Redis
    link: MqttLink
    keyring: Keyring
    signer: Signer
    accounts: BrokerAccounts
    presence: PresenceStore
    tokens: TokenStore
    counters: Counters
    media: MediaStore
    jobs: Jobs
    speech: SpeechEngine
    live: LiveSessions | None = None  # set once the services exist
