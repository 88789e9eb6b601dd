"""Controller settings, read from LOALANG_* environment variables (and files for secrets)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from loalang_protocol.broker_addresses import AddressError, BrokerAddress, address_list

from .broker_accounts.base import DEVICE_ACCOUNT_PREFIX
from .production import production_problems

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Settings(BaseSettings):
    """Everything the controller needs to start; see docs/configuration.md."""

    # hide_input_in_errors: a validation error never repeats the values, among which are the secrets.
    model_config = SettingsConfigDict(env_prefix="LOALANG_", extra="forbid", secrets_dir=None,
                                      hide_input_in_errors=True)

    environment: Literal["production", "demo", "test"] = Field(
        "production", description="demo and test allow placeholder secrets; production refuses them"
    )
    http_host: str = Field("127.0.0.1", description="address the API and console listen on")
    http_port: int = Field(8000, description="port the API and console listen on")
    instance_id: str = Field("ctl-1", description="slug naming this controller instance in MQTT")
    data_dir: Path = Field(Path("data/controller"), description="keys, media and the SQLite file")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default is SQLite under data_dir (postgresql+psycopg://...)"
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for live state; production "
                           "requires a password in it (redis://:PASSWORD@host:6379/0)")
    redis_sentinels: str = Field(
        "", description="Redis Sentinels as host:port,host:port; when set, the master is asked of them "
                        "(redis_url then gives only the database number and password, which the Sentinels "
                        "are asked with too)")
    redis_sentinel_master: str = Field("loalang", pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                                       description="the master's name the Sentinels watch")
    mqtt_host: str = Field("127.0.0.1", description="broker host")
    mqtt_port: int = Field(1883, description="broker port")
    mqtt_username: str = Field("loalang-controller", description="the controller's broker account")
    mqtt_password: SecretStr | None = Field(None, description="its password (production: 16+ characters, "
                                            "no placeholder)")
    mqtt_password_file: Path | None = Field(None, description="file holding the broker password")
    mqtt_tls_ca_file: str | None = Field(None, description="CA bundle to verify the broker over TLS")
    mqtt_addresses: str = Field(
        "", description="the broker cluster's nodes for the controller's own connection, as host:port,"
        "host:port (at most 16): it connects to one at random and moves to another when that one fails "
        "(default: none, mqtt_host and mqtt_port alone)")
    broker_kind: Literal["mosquitto", "nats"] = Field(
        "mosquitto", description="the broker's account system: Mosquitto's dynamic security, or a NATS "
        "cluster in operator mode (docs/nats.md)")
    nats_trust_dir: Path | None = Field(
        None, description="with broker_kind nats: the controller/ folder `radio-controller nats-init` wrote "
        "(signing keys, system credentials, the controller's login, used as its MQTT password unless "
        "mqtt_password is set)")
    nats_login_lifetime_s: int = Field(
        90 * 86400, ge=30, le=3650 * 86400, description="with broker_kind nats: how long a device's login "
        "is valid; agents renew it ahead, and the revocation list keeps what one lifetime revoked")
    nats_servers: str = Field(
        "", description="with broker_kind nats: the nodes' NATS client addresses, nats://host:4222,... "
        "(the connection that revokes device logins)")
    device_mqtt_host: str | None = Field(
        None, description="broker host name given to devices at enrolment (default: mqtt_host)"
    )
    device_mqtt_port: int | None = Field(
        None, description="broker port given to devices; the TLS port when devices use TLS (default: "
        "mqtt_port, or 8883 when only device_tls_ca_file turns TLS on)"
    )
    device_mqtt_addresses: str = Field(
        "", description="the broker cluster's nodes given to devices at enrolment, as host:port,host:port "
        "(at most 16; [v6]:port for IPv6): each device connects to one at random and moves to another on "
        "failure (default: none, the single device_mqtt_host and port)"
    )
    device_tls_ca_file: str | None = Field(
        None, description="CA certificate (PEM) devices verify the broker with, sent to them at "
        "enrolment; setting it makes devices use TLS (default: mqtt_tls_ca_file)"
    )
    device_keepalive_s: int = Field(60, ge=5, le=300, description="MQTT keepalive devices should use")
    public_url: str = Field("http://127.0.0.1:8000", description="URL devices use to reach the API")
    https_cert_file: Path | None = Field(None, description="certificate chain (PEM): the controller serves "
                                         "HTTPS itself, which browsers require to give a page the microphone")
    https_key_file: Path | None = Field(None, description="private key (PEM) of https_cert_file")
    admin_username: str = Field("admin", description="admin created on first start")
    admin_password: SecretStr = Field(SecretStr(""), description="admin password (first start only; "
                                      "production refuses placeholders and fewer than 16 characters)")
    allow_online_root_key: bool = Field(False, description="let production start with the root private "
                                        "key (root.key) in its key folder; it belongs offline")
    token_ttl_s: int = Field(8 * 3600, description="lifetime of an API token")
    claim_code_ttl_s: int = Field(7 * 24 * 3600, description="lifetime of an enrolment claim code")
    signing_cert_days: int = Field(90, description="validity of auto-issued signing certificates")
    desired_ttl_s: int = Field(30 * 24 * 3600, ge=3600, description="expiry of retained desired state; "
                               "it is published again after half of it")
    schedule_horizon_s: int = Field(48 * 3600, ge=10, description="how far ahead desired state carries "
                                    "occurrences (devices play this far ahead without the network)")
    horizon_refresh_s: float = Field(600, gt=0, le=3600, description="how often the controller publishes "
                                     "again the desired state that occurrences entering the horizon changed")
    command_ttl_s: int = Field(120, description="expiry of commands")
    live_latency_ms: int = Field(500, ge=100, le=10_000, description="receivers play live audio this "
                                 "long after it was captured (the chunk length, the network's jitter and "
                                 "the sound card's buffer must fit in it)")
    live_chunk_ms: int = Field(200, ge=20, le=1000, multiple_of=20, description="live audio per chunk")
    live_bitrate: int = Field(32_000, ge=8_000, le=256_000, description="Opus bitrate of live streams, bit/s")
    live_lease_s: int = Field(20, ge=5, le=600, description="a live session ends on receivers this long "
                              "after the controller last renewed it (renewed every third of it)")
    live_silence_s: float = Field(15.0, ge=2, le=600, description="a live source that sends nothing for "
                                  "this long ends its session")
    live_recording_keep_days: int = Field(90, ge=1, le=3650, description="days a live broadcast's recording "
                                          "stays in the library (unless a bulletin was made of it)")
    relay_allowed_networks: str = Field("", max_length=2000, description="networks (CIDR, comma-separated) "
                                        "a relayed station may be on although they are private or local, "
                                        "e.g. 10.20.0.0/16 for a commune's own Icecast; by default only "
                                        "public addresses")
    trusted_proxies: str = Field("", max_length=2000, description="addresses (CIDR, comma-separated) of the "
                                 "reverse proxies in front of the controller, e.g. 172.30.0.0/24: only their "
                                 "X-Forwarded-For names a client's address (for login limits and the audit "
                                 "log); empty: the header is ignored")
    broadcast_margin_ms: int = Field(3000, ge=500, le=60_000, description="a broadcast starts at least this "
                                     "long after the call, at the same instant on every target; longer "
                                     "as it reaches more receivers (the next three settings)")
    broadcast_margin_per_receiver_ms: float = Field(
        1.0, ge=0, le=100, description="time added to a broadcast's start per receiver it reaches: the "
        "fan-out of its desired state, measured by benchmarks/fanout.py")
    media_downloads_per_s: float = Field(
        100.0, ge=1, le=100_000, description="library downloads the controller serves a second, for the "
        "start of a broadcast whose receivers may need its file")
    media_download_mb_per_s: float = Field(
        50.0, ge=0.1, le=10_000, description="megabytes a second the controller sends receivers downloading "
        "a library file")
    telemetry_history_s: int = Field(300, ge=1, le=3600, description="a telemetry sample is kept at most "
                                     "this often per device, for charts")
    history_keep_days: int = Field(8, ge=7, le=400, description="days of telemetry and presence history kept")
    media_max_upload_mb: int = Field(200, ge=1, le=4000, description="largest audio file accepted for upload")
    media_max_duration_s: int = Field(2 * 3600, ge=10, le=24 * 3600, description="longest audio accepted")
    media_bitrate_kbps: int = Field(32, ge=12, le=128, description="Opus bit rate of the library's files")
    map_tile_url: str = Field("", max_length=500, pattern=r"^(https?://[^\s\"'<>]*\{z\}[^\s\"'<>]*)?$",
                              description="map tiles for the console, e.g. "
                              "https://tiles.example.vn/{z}/{x}/{y}.png, drawn under the areas' outlines "
                              "(empty: no tiles, nothing fetched)")
    map_tile_attribution: str = Field("", max_length=200, description="credit shown under the map's tiles")
    tts_engine: Literal["espeak", "piper"] = Field("espeak", description="text-to-speech engine")
    tts_voice: str = Field("vi", pattern=r"^[a-zA-Z0-9_+-]{1,40}$", description="espeak-ng voice")
    piper_binary: str = Field("piper", description="the Piper program, when tts_engine is piper")
    piper_model: Path | None = Field(None, description="Piper voice model (.onnx), when tts_engine is piper")
    smtp_host: str = Field("", max_length=200, description="SMTP server for notification e-mails (empty: "
                           "no e-mail is sent, and e-mail subscriptions are refused)")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP server port")
    smtp_username: str = Field("", max_length=200, description="SMTP account (empty: no login)")
    smtp_password: SecretStr = Field(SecretStr(""), description="SMTP account's password")
    smtp_password_file: Path | None = Field(None, description="file holding the SMTP password (instead of "
                                            "smtp_password)")
    smtp_from: str = Field("loalang@localhost", max_length=200, description="sender address of notification "
                           "e-mails")
    smtp_starttls: bool = Field(True, description="upgrade the SMTP connection with STARTTLS before logging "
                                "in (off only for a server on the same host or network)")
    notify_allowed_networks: str = Field(
        "", max_length=2000, description="networks (CIDR, comma-separated) a notification webhook may be on "
        "although they are private or local, e.g. 10.20.0.0/16 for a province's own SMS gateway; by default "
        "only public addresses")
    notify_offline_after_s: int = Field(
        120, ge=0, le=86_400, description="a cluster offline this long opens an incident (4G links drop for "
        "moments)")
    notify_digest_at: str = Field("07:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="local "
                                  "time (in each subscription's area's time zone) of the daily digest of "
                                  "what is still broken")

    @model_validator(mode="after")
    def _https_pair(self) -> Settings:
        if (self.https_cert_file is None) != (self.https_key_file is None):
            raise ValueError("set both LOALANG_HTTPS_CERT_FILE and LOALANG_HTTPS_KEY_FILE, or neither")
        for path in (self.https_cert_file, self.https_key_file):
            if path is not None and not path.is_file():
                raise ValueError(f"{path} is not a readable file")
        return self

    @model_validator(mode="after")
    def _outside_the_devices_namespace(self) -> Settings:
        if self.mqtt_username.startswith(DEVICE_ACCOUNT_PREFIX):
            raise ValueError(f"LOALANG_MQTT_USERNAME may not start with {DEVICE_ACCOUNT_PREFIX!r}: that "
                             "namespace is the devices' own")
        return self

    @model_validator(mode="after")
    def _networks(self) -> Settings:
        self.relay_networks()  # a bad network stops the controller at start
        self.proxy_networks()
        self.webhook_networks()
        return self

    @model_validator(mode="after")
    def _nats(self) -> Settings:
        if self.broker_kind == "nats" and (self.nats_trust_dir is None or not self.nats_server_list()):
            raise ValueError("LOALANG_BROKER_KIND=nats needs LOALANG_NATS_TRUST_DIR and LOALANG_NATS_SERVERS")
        return self

    def nats_server_list(self) -> list[str]:
        """The NATS client addresses of the cluster's nodes."""
        return [entry.strip() for entry in self.nats_servers.split(",") if entry.strip()]

    @model_validator(mode="after")
    def _device_addresses(self) -> Settings:
        self.device_addresses()  # a bad address stops the controller at start
        self.controller_addresses()
        return self

    def controller_addresses(self) -> list[BrokerAddress]:
        """The broker addresses of the controller's own connection (empty: mqtt_host and mqtt_port);
        ValueError names a bad entry."""
        return _addresses(self.mqtt_addresses, "LOALANG_MQTT_ADDRESSES")

    def device_addresses(self) -> list[BrokerAddress]:
        """The broker addresses given to devices (empty: none set); ValueError names a bad entry."""
        return _addresses(self.device_mqtt_addresses, "LOALANG_DEVICE_MQTT_ADDRESSES")

    @model_validator(mode="after")
    def _sentinels(self) -> Settings:
        self.sentinel_addresses()  # a bad address stops the controller at start
        return self

    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """The Sentinels to ask for the Redis master; ValueError names a bad entry."""
        addresses = []
        for entry in filter(None, (part.strip() for part in self.redis_sentinels.split(","))):
            host, _, port = entry.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"LOALANG_REDIS_SENTINELS: {entry!r} is not host:port such as "
                                 "redis-s1:26379")
            addresses.append((host.strip("[]"), int(port)))
        return addresses

    def relay_networks(self) -> list[Network]:
        """The networks a relayed station may be on although private; ValueError names a bad one."""
        return parse_networks(self.relay_allowed_networks, "LOALANG_RELAY_ALLOWED_NETWORKS")

    def webhook_networks(self) -> list[Network]:
        """The networks a notification webhook may be on although private; ValueError names a bad one."""
        return parse_networks(self.notify_allowed_networks, "LOALANG_NOTIFY_ALLOWED_NETWORKS")

    def proxy_networks(self) -> list[Network]:
        """The reverse proxies whose X-Forwarded-For is believed; ValueError names a bad one."""
        return parse_networks(self.trusted_proxies, "LOALANG_TRUSTED_PROXIES")

    @model_validator(mode="after")
    def _production_ready(self) -> Settings:
        problems = production_problems(self) if self.environment == "production" else []
        if problems:
            raise ValueError("production refuses to start:\n    " + "\n    ".join(problems))
        return self

    def sqlalchemy_url(self) -> str:
        """The database URL, SQLite under data_dir by default."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'loalang.sqlite3').resolve()}"

    def smtp_secret(self) -> str:
        """The SMTP password from its file, else from the setting (empty: none)."""
        if self.smtp_password_file is not None:
            return self.smtp_password_file.read_text().strip()
        return self.smtp_password.get_secret_value()

    def broker_password(self) -> str:
        """The controller's broker password from the setting or its file."""
        if self.mqtt_password is not None:
            return self.mqtt_password.get_secret_value()
        if self.mqtt_password_file is not None:
            return self.mqtt_password_file.read_text().strip()
        if self.broker_kind == "nats" and self.nats_trust_dir is not None:
            return (self.nats_trust_dir / "controller.jwt").read_text().strip()
        raise ValueError("set LOALANG_MQTT_PASSWORD or LOALANG_MQTT_PASSWORD_FILE")



def _addresses(text: str, setting: str) -> list[BrokerAddress]:
    """Comma-separated host:port broker addresses (empty: none); ValueError names the setting."""
    entries = [part.strip() for part in text.split(",") if part.strip()]
    try:
        return address_list(entries) if entries else []
    except AddressError as exc:
        raise ValueError(f"{setting}: {exc}") from None


def parse_networks(text: str, setting: str) -> list[Network]:
    """Comma-separated CIDR networks; ValueError names the setting and the bad entry."""
    networks = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{setting}: {entry!r} is not a network such as 10.20.0.0/16") from None
    return networks
