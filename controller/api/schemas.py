"""Request and response models of the API (internal fields never leak)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from loalang_protocol.messages import Slug

from ..errors import DomainError
from ..media.speech import MAX_TEXT_INPUT_CHARS

SlugField = Slug
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]+$"
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True, pattern=NO_CONTROL_CHARACTERS)
]
Clock = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
SpokenText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_INPUT_CHARS)]
"""Text to be spoken; its limit (speech.MAX_TEXT_CHARS, spaces folded) is checked with its own code."""
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


def _known_timezone(name: str) -> str:
    if name not in available_timezones():
        raise DomainError("unknown_time_zone", f"unknown time zone {name!r:.70}; use an IANA name such as "
                          "Asia/Ho_Chi_Minh", 422)
    return name


def _plausible_day(day: date) -> date:
    if not 2000 <= day.year <= 2100:
        raise DomainError("date_out_of_range", "give a date between the years 2000 and 2100", 422)
    return day


CalendarDay = Annotated[date, AfterValidator(_plausible_day)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


Approval = Literal["none", "required"]
Geocode = Annotated[str, StringConstraints(pattern=r"^[^:\x00-\x1f]{1,60}:[^\x00-\x1f]{1,100}$")]
EmergencyConfirm = Literal["password", "second_approver"]
APPROVAL_DESCRIPTION = ("whether bulletins for this area need an approver before they are scheduled "
                        "(`none` or `required`); unset: inherited from the parent (`none` at the root)")
CONFIRM_DESCRIPTION = ("how an emergency or live broadcast here is confirmed: the operator's password "
                       "again, or a second approver; unset: inherited (`password` at the root)")


DUCKING_DESCRIPTION = ("how far a background programme (a relayed station, music) goes down under a normal "
                       "or priority announcement, in dB from -40 to 0; unset: inherited (-15 at the root)")
DuckingDb = Annotated[int, Field(ge=-40, le=0, examples=[-15])]


class AreaCreate(_In):
    """A new area; its id is made from the name unless given."""

    name: Name = Field(examples=["Xã Hòa Bình"])
    level: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,32}$")] = Field(
        examples=["province", "region", "commune", "village"]
    )
    parent_id: SlugField | None = Field(None, examples=["tinh-nghe-an"])
    id: SlugField | None = None
    timezone: Annotated[str, StringConstraints(max_length=64), AfterValidator(_known_timezone)] | None = None
    quiet_start: Clock | None = Field(None, examples=["22:00"])
    quiet_end: Clock | None = Field(None, examples=["05:00"])
    ducking_db: DuckingDb | None = Field(None, description=DUCKING_DESCRIPTION)
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    approval: Approval | None = Field(None, description=APPROVAL_DESCRIPTION)
    emergency_confirm: EmergencyConfirm | None = Field(None, description=CONFIRM_DESCRIPTION)
    geocodes: list[Geocode] | None = Field(None, max_length=50, examples=[["VN-ADMIN:19183"]],
                                           description="CAP geocodes (valueName:value) that mean this area")


class AreaUpdate(_In):
    """Changes to an area; quiet hours and time zone are inherited by the areas below."""

    name: Name | None = None
    timezone: Annotated[str, StringConstraints(max_length=64), AfterValidator(_known_timezone)] | None = None
    quiet_start: Clock | None = Field(None, examples=["22:00"])
    quiet_end: Clock | None = Field(None, examples=["05:00"])
    ducking_db: DuckingDb | None = Field(None, description=DUCKING_DESCRIPTION)
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    approval: Approval | None = Field(None, description=APPROVAL_DESCRIPTION)
    emergency_confirm: EmergencyConfirm | None = Field(None, description=CONFIRM_DESCRIPTION)
    geocodes: list[Geocode] | None = Field(None, max_length=50, examples=[["VN-ADMIN:19183"]],
                                           description="CAP geocodes (valueName:value) that mean this area")

    @model_validator(mode="after")
    def _name_is_not_cleared(self) -> AreaUpdate:
        if "name" in self.model_fields_set and self.name is None:
            raise DomainError("null_not_allowed",
                              "name cannot be null (the others may: null means inherited)", 422, "name")
        return self


class AreaPublic(BaseModel):
    """An area as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    level: str
    parent_id: str | None
    timezone: str | None
    quiet_start: str | None
    quiet_end: str | None
    ducking_db: int | None = Field(None, description=DUCKING_DESCRIPTION)
    latitude: float | None
    longitude: float | None
    approval: str | None
    approval_required: bool = Field(False, description="whether approval is required here, by the area's own "
                                    "policy or the nearest one set above it: below live, only a bulletin an "
                                    "approver approved plays here")
    emergency_confirm: str | None
    geocodes: list[str]
    desired_version: int = Field(description="version of the area's desired state last published to devices")


class DeviceCreate(_In):
    """A new device (cluster) in an area, with its position for the map (both or neither: without one,
    the map places it inside its area's outline)."""

    name: Name = Field(examples=["Cụm loa thôn Đông"])
    area_id: SlugField = Field(examples=["thon-dong"])
    latitude: Latitude | None = Field(None, examples=[18.6796])
    longitude: Longitude | None = Field(None, examples=[105.6813])
    id: SlugField | None = None
    is_test: bool = False


class DeviceMove(_In):
    """Move a device to another area."""

    area_id: SlugField


class DeviceSettingsUpdate(_In):
    """Settings to change on a device."""

    volume: Annotated[int, Field(ge=0, le=100)] = Field(examples=[80])


class ClaimCodePublic(BaseModel):
    """A one-time claim code, shown once."""

    device_id: str
    claim_code: str
    expires_at: datetime
    enroll_command: str


class PresencePublic(BaseModel):
    """Connection state of a device."""

    online: bool
    boot: int
    connection: int
    install_id: str
    since: datetime
    last_seen: datetime
    agent_version: str
    connected_at: datetime | None = Field(None, description="birth time of this connection, device clock")
    offline_reason: str = Field("", description="'will' (connection closed) or 'silent' (keepalive missed)")


class OnAirPublic(BaseModel):
    """An occurrence on the air."""

    model_config = ConfigDict(from_attributes=True)

    occurrence_id: str
    title: str = Field(description="empty when the occurrence has none or is no longer known")
    level: str = Field(description="background, normal, priority, live or emergency; empty when unknown")


class DevicePublic(BaseModel):
    """A device with its live state."""

    id: str
    name: str
    area_id: str
    latitude: float | None = Field(description="null: not surveyed (the map places it in its area)")
    longitude: float | None
    is_test: bool
    enrolled: bool
    volume: int
    desired_version: int
    applied_version: int | None
    online: bool
    presence: PresencePublic | None
    telemetry: dict[str, Any] | None
    data_budget_mb: int | None = Field(None, description="monthly mobile data allowance")
    data_used_pct: float | None = Field(None, description="this month's use, from the device's counter")
    data_warning: bool = Field(False, description="80 % of the monthly budget reached")
    uptime_7d_pct: float | None = Field(
        None, description="time online over the last 7 days, or since enrolment when that is later")
    area_name: str | None = Field(None, description="the name of the device's area (its village)")
    playing: OnAirPublic | None = Field(
        None, description="what an online device plays now, from its latest telemetry or receipt")
    not_heard: str | None = Field(
        None, description="why its latest play was not heard by the microphone at its horns (`silent`, "
        "`other_sound`); null when it was, or when it has no microphone")


class FleetOverview(BaseModel):
    """Every cluster you can see, column by column: the i-th entry of each list is the i-th cluster.

    What the dashboard draws (its map, its counts, its list) and nothing else, so that reading
    thousands of clusters stays cheap; the device list has the rest."""

    ids: list[str]
    names: list[str]
    area_ids: list[str]
    latitudes: list[float | None] = Field(description="null: not surveyed (the map places it in its area)")
    longitudes: list[float | None]
    online: list[bool] = Field(description="connected now")
    playing: list[str | None] = Field(
        description="the occurrence an online cluster plays (its latest telemetry or receipt), else null")
    not_heard: list[str | None] = Field(
        description="why a cluster's latest play was not heard by the microphone at its horns (`silent`: "
        "nothing of it; `other_sound`: something else), else null")
    on_air: dict[str, OnAirPublic] = Field(
        {}, description="the title and level of each occurrence in `playing`, by occurrence id")
    area_names: dict[str, str] = Field({}, description="the name of each area in your scope, by id")


class DeviceChange(_In):
    """Changes to a device's record (its settings on the board go through /settings)."""

    name: Name | None = None
    is_test: bool | None = Field(None, description="test devices alone sound Test and Exercise alerts")
    data_budget_mb: int | None = Field(None, ge=1, le=1_000_000, description="monthly mobile data, MB")


class DeviceCreated(BaseModel):
    """The new device and its first claim code."""

    device: DevicePublic
    claim: ClaimCodePublic


class SettingsApplied(BaseModel):
    """Result of a settings change."""

    device_id: str
    desired_version: int


class EnrollRequest(_In):
    """What a device sends to enrol."""

    code: Annotated[str, StringConstraints(min_length=4, max_length=40)] = Field(
        examples=["K7QM-2XWD-9RTA-3F8H-PQ2Z"])
    public_key: Annotated[str, StringConstraints(min_length=40, max_length=60)] = Field(
        description="the device's Ed25519 public key, 32 bytes in URL-safe base64"
    )


class BrokerAddressOut(BaseModel):
    """One node of the broker."""

    host: str
    port: int


class BrokerAddressesUpdate(_In):
    """Every node of the broker, for devices to connect to one at random and move to another on failure."""

    addresses: list[BrokerAddressOut] = Field(description="1 to 16 nodes, each a host name or IP address "
                                              "and a port", examples=[[{"host": "nats-1.example.vn",
                                                                        "port": 1883}]])


class BrokerAddressesGiven(BaseModel):
    """The devices that were given the addresses, each with a new desired version."""

    device_ids: list[str]


class BrokerCredentials(BaseModel):
    """How a device reaches the broker."""

    host: str = Field(description="the broker's host (the first of addresses when there are some)")
    port: int
    username: str
    password: str
    client_id: str
    tls: bool
    keepalive: int
    addresses: list[BrokerAddressOut] = Field(
        default_factory=list, description="every node of a broker cluster (empty: host and port alone): "
        "the agent connects to one at random and moves to another on failure")


class EnrollResponse(BaseModel):
    """What an enrolled device receives."""

    device_id: str
    areas: list[str]
    broker: BrokerCredentials
    root_public_key: str
    controller_url: str
    broker_ca_pem: str | None = Field(
        None, description="CA certificate (PEM) to verify the broker's TLS certificate with; "
        "absent when the broker is not reached over TLS or its certificate is from a public CA"
    )


MAX_COMMAND_ARGS_BYTES = 16 * 1024


class CommandRequest(_In):
    """A maintenance command for a device."""

    name: Annotated[SlugField, StringConstraints(max_length=32)] = Field(examples=["ping"])
    args: dict[str, Any] = Field(default_factory=dict, description="at most 16 KiB of finite JSON")
    quiet_override: bool = Field(False, description="a test tone inside the target's quiet hours (audited)")

    @field_validator("args")
    @classmethod
    def _small_finite_json(cls, args: dict[str, Any]) -> dict[str, Any]:
        try:
            size = len(json.dumps(args, allow_nan=False))
        except ValueError:
            raise DomainError("bad_arguments", "args must be plain JSON without NaN or infinite numbers",
                              422) from None
        if size > MAX_COMMAND_ARGS_BYTES:
            raise DomainError("bad_arguments", f"args are {size} bytes; at most {MAX_COMMAND_ARGS_BYTES} are "
                              "allowed", 422)
        return args


class CommandSent(BaseModel):
    """A command on its way."""

    command_id: str


class AuditPublic(BaseModel):
    """One audit log entry."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    targets: list[Any]
    detail: dict[str, Any]


class DeviceEventPublic(BaseModel):
    """A signed event a device reported (receipts, security events)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    device_id: str
    install_id: str
    seq: int
    type: str
    occurred_at: datetime
    received_at: datetime
    data: dict[str, Any]
    title: str | None = Field(None, description="for a receipt, the title of what was played")


Username = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")]
Password = Annotated[str, StringConstraints(min_length=10, max_length=256)]
UserRole = Literal["admin", "operator", "approver", "technician", "viewer"]
ClientRole = Literal["admin", "operator", "approver", "technician", "viewer", "alert"]


class UserCreate(_In):
    """A new user: a role over an area subtree (no area: the whole tree, for whole-tree admins to give)."""

    username: Username = Field(examples=["nguyen.van.a"])
    password: Password = Field(description="at least 10 characters")
    role: UserRole = Field(examples=["operator"])
    area_id: SlugField | None = Field(None, examples=["xa-hoa-binh"])
    full_name: Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")] = Field(
        "", examples=["Nguyễn Văn A"])


class UserUpdate(_In):
    """Changes to a user; a new password, role, area or disabling ends the user's logins."""

    password: Password | None = None
    role: UserRole | None = None
    area_id: SlugField | None = None
    full_name: Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")] | None = None
    disabled: bool | None = None


class PasswordChange(_In):
    """A user changes their own password."""

    current_password: Annotated[str, StringConstraints(max_length=1024)]
    new_password: Password


class UserPublic(BaseModel):
    """A user as the API shows it (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    full_name: str
    role: str
    area_id: str | None
    disabled: bool
    created_at: datetime


class ApiClientCreate(_In):
    """A new API client (a warning centre posting CAP alerts, another system)."""

    id: SlugField = Field(examples=["trung-tam-canh-bao"])
    name: Name = Field(examples=["Trung tâm cảnh báo thiên tai tỉnh"])
    role: ClientRole = Field(examples=["alert"])
    area_id: SlugField | None = Field(None, examples=["tinh-nghe-an"])
    cancels_others: bool = Field(False, description="for a warning centre: its Cancel and Update may also "
                                 "end alerts that other clients of its scope put on the air, inside its "
                                 "scope")


class ApiClientPublic(BaseModel):
    """An API client as the API shows it (never its key)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    role: str
    area_id: str | None
    disabled: bool
    cancels_others: bool
    created_by: str
    created_at: datetime
    last_used_at: datetime | None


class ApiClientKey(ApiClientPublic):
    """A client with its key, shown this once: send it as `Authorization: Bearer <key>`."""

    key: str
