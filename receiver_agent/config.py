"""The agent's configuration file (TOML), written by `receiver-agent enroll`."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from loalang_protocol.broker_addresses import MAX_ADDRESSES, AddressError, BrokerAddress, address_list
from loalang_protocol.files import write_atomic
from loalang_protocol.messages import Slug

MAX_CONFIG_BYTES = 64 * 1024


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid; the message says where."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


BrokerName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)]
"""A broker user name or client id: `dev-` and a device id (a slug of up to 48), or, for a device
enrolled before device accounts had their namespace, the bare device id."""


class BrokerConfig(_Section):
    """How to reach the broker."""

    host: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        description="broker host name or address")
    port: int = Field(1883, ge=1, le=65535, description="broker port (8883 with TLS)")
    username: BrokerName = Field(description="the device's broker user name (`dev-` and its device id)")
    password: Annotated[str, StringConstraints(min_length=8, max_length=8192)] = Field(
        description="the device's broker password, given at enrolment (on a NATS cluster, a signed "
        "login of about a kilobyte)")
    client_id: BrokerName = Field(description="the only client id the broker accepts for this user")
    keepalive: int = Field(30, ge=5, le=300, description="MQTT keepalive in seconds")
    tls_ca_file: str | None = Field(None, description="CA certificate to verify the broker; TLS when set")
    reconnect_window_s: float = Field(5.0, ge=0.5, le=300, description="the first reconnection waits a "
                                      "random time up to this; the window doubles with each failure")
    reconnect_cap_s: float = Field(60.0, ge=1, le=3600, description="the largest reconnection window")
    addresses: list[str] | None = Field(
        None, max_length=MAX_ADDRESSES, description="the nodes of a broker cluster, each `host:port` "
        "(`[v6]:port`) or a table with host and port, at most 16: the agent connects to one at random "
        "and moves to the next on failure; when not set, host and port alone")

    @field_validator("addresses", mode="before")
    @classmethod
    def _known_addresses(cls, value: Any) -> list[str] | None:
        if value is None:
            return None
        try:
            return [str(address) for address in address_list(value)]
        except AddressError as exc:
            raise ValueError(str(exc)) from None

    def broker_addresses(self) -> list[BrokerAddress]:
        """Every address the agent may connect to: the list when there is one, else host and port."""
        if self.addresses:
            return address_list(self.addresses)
        return [BrokerAddress(self.host, self.port)]


class AudioConfig(_Section):
    """The audio output."""

    sink: Literal["simulated", "alsa", "null"] = Field(
        "simulated", description="`alsa` on a board; `null` keeps time and sounds nothing, without "
        "decoding (a simulated fleet of thousands)")
    alsa_device: str = Field("default", description="ALSA device name, for example `hw:0,0`")
    alsa_mixer: str = Field("Master", description="ALSA mixer control that sets the volume")
    mic: Literal["none", "simulated", "alsa"] = Field(
        "none", description="a microphone at the horns that checks each play was heard: `alsa` on a board "
        "with one (`mic_device`), `simulated` with the simulated card (its folder's acoustic.json)")
    mic_device: str = Field("default", description="ALSA capture device of the microphone, for example "
                            "`plughw:1,0`")

    @model_validator(mode="after")
    def _a_simulated_microphone_hears_the_simulated_card(self) -> AudioConfig:
        if self.mic == "simulated" and self.sink != "simulated":
            raise ValueError("mic = simulated hears only the simulated card (sink = simulated)")
        return self


class AmplifierConfig(_Section):
    """The amplifier's relay."""

    driver: Literal["simulated", "gpio"] = Field("simulated", description="`gpio` on a board")
    gpio_pin: int = Field(17, ge=0, le=40, description="BCM pin number of the relay")
    active_high: bool = Field(True, description="whether a high pin closes the relay")
    lead_s: float = Field(0.5, ge=0, le=10, description="seconds the amplifier is on before audio starts")
    hold_s: float = Field(5.0, ge=0, le=600, description="seconds it stays on after audio ends")


class AgentConfig(_Section):
    """Everything the agent needs to run."""

    device_id: Slug = Field(description="this device's id")
    controller_url: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=300)] = Field(
        description="the controller's URL (media downloads, re-enrolment)")
    root_public_key: Annotated[str, StringConstraints(min_length=40, max_length=60)] = Field(
        description="the root key that certifies the controller's signing keys")
    areas: list[Slug] = Field(min_length=1, max_length=16,
                              description="area chain at enrolment, root first (desired state updates it)")
    data_dir: Path = Field(
        description="key, state, outbox and sound card recordings (default: the file's folder)")
    controller_ca_file: Path | None = Field(
        None, description="the CA certificate the controller's HTTPS certificate is checked with (a "
                          "province's own CA, given at enrolment with --ca-file); the system's CA store "
                          "when not set")
    broker: BrokerConfig = Field(description="the `[broker]` table")
    audio: AudioConfig = Field(default_factory=AudioConfig, description="the `[audio]` table")
    amplifier: AmplifierConfig = Field(default_factory=AmplifierConfig, description="the `[amplifier]` table")
    cache_quota_mb: float = Field(2000, ge=0.1, le=1_000_000, description="disk space the media cache uses")
    status_page: Annotated[str, StringConstraints(pattern=r"^[0-9a-zA-Z.:\[\]-]*:\d{1,5}$")] | None = Field(
        None, description="host:port of the read-only local status page; off when not set")
    emergency_volume_floor: int = Field(90, ge=0, le=100, description="an emergency plays at least this loud")
    telemetry_interval_s: float = Field(
        60.0, ge=0.2, le=3600, description="seconds between telemetry reports (at most the keepalive)")
    clock_interval_s: float = Field(300.0, ge=1, le=86400, description="seconds between clock exchanges")
    update_quiet_gap_s: float = Field(300.0, ge=10, le=86400, description="a new release is restarted into "
                                      "only when nothing is due within this many seconds")

    @property
    def key_file(self) -> Path:
        """The device's private key."""
        return self.data_dir / "device.key"


def load(path: Path) -> AgentConfig:
    """Read and validate a configuration file; raises ConfigError naming the problem."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} is {len(raw)} bytes, over the {MAX_CONFIG_BYTES} byte limit")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path} is nested too deeply to be a configuration") from None
    data.setdefault("data_dir", str(path.parent))
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe(exc)}") from None


def describe(exc: ValidationError) -> str:
    """The problems of a validation error on one line, without the values (they may be secrets)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}".replace("\n", " ") for e in exc.errors()[:10]
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return _toml_string(str(value))


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped, the rest as is."""
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def dump(config: AgentConfig) -> str:
    """TOML text of a configuration."""
    data = config.model_dump(exclude_none=True)
    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append(f"\n[{key}]")
            tables += [f"{k} = {_toml_value(v)}" for k, v in value.items()]
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines + tables) + "\n"


def save(config: AgentConfig, path: Path) -> None:
    """Write the configuration atomically, readable by its owner only (it holds the broker password)."""
    write_atomic(path, dump(config).encode("utf-8"), mode=0o600)


def rewrite(config: AgentConfig, path: Path) -> None:
    """Replace an existing configuration file durably (a power cut leaves the old or the new one),
    keeping its mode: it holds the broker password."""
    mode = stat.S_IMODE(path.stat().st_mode)
    write_atomic(path, dump(config).encode("utf-8"), mode=mode)
