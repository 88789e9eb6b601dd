"""Pydantic message bodies: strict types, ranges, slugs, unknown fields."""

from __future__ import annotations

from typing import Any

import pytest

from loalang_protocol.messages import (
    ClockReply,
    ClockRequest,
    Command,
    CommandReply,
    ControllerState,
    DesiredState,
    DeviceEvent,
    DeviceSettings,
    DeviceStatus,
    EventAck,
    HeldVersions,
    Reported,
    Telemetry,
    ValidationError,
)
from loalang_protocol.slugs import is_slug

pytestmark = pytest.mark.unit

STATUS = {"online": True, "boot": 3, "conn": 1, "install_id": "inst-1"}


def _status(**changes: Any) -> DeviceStatus:
    return DeviceStatus.model_validate({**STATUS, **changes})


# --- DeviceStatus -------------------------------------------------------------------------


def test_device_status_defaults() -> None:
    status = _status()
    assert status.online is True
    assert status.boot == 3 and status.conn == 1
    assert status.install_id == "inst-1"
    assert status.protocol == 1
    assert status.held == HeldVersions()
    assert status.held.device == 0 and status.held.areas == {}
    assert status.ts == 0
    assert status.agent_version == ""


def test_device_status_from_json_with_held_versions() -> None:
    raw = (
        '{"online": false, "boot": 7, "conn": 2, "install_id": "a1", "agent_version": "0.3.1",'
        ' "held": {"device": 4, "areas": {"xa-1": 2, "tinh-x": 9}}, "ts": 1700000000000}'
    )
    status = DeviceStatus.model_validate_json(raw)
    assert status.online is False
    assert status.held.device == 4
    assert status.held.areas == {"xa-1": 2, "tinh-x": 9}
    assert DeviceStatus.model_validate_json(status.model_dump_json()) == status


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("boot", "5"),
        ("boot", 5.0),
        ("boot", True),
        ("boot", -1),
        ("conn", None),
        ("conn", -1),
        ("online", "true"),
        ("online", 1),
        ("install_id", "Inst-1"),
        ("install_id", "a/b"),
        ("install_id", "#"),
        ("install_id", ""),
        ("install_id", 5),
        ("install_id", "a" * 49),
        ("install_id", "-a"),
        ("agent_version", "x" * 201),
        ("protocol", "1"),
        ("ts", -1),
        ("held", {"device": -1}),
        ("held", {"device": "1"}),
        ("held", {"areas": {"Xa": 1}}),
        ("held", {"areas": {"xa": -1}}),
        ("held", {"areas": {f"a{i}": 1 for i in range(17)}}),
        ("held", []),
    ],
)
def test_device_status_rejects(field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        _status(**{field: value})


@pytest.mark.parametrize("missing", ["online", "boot", "conn", "install_id"])
def test_device_status_required_fields(missing: str) -> None:
    data = {k: v for k, v in STATUS.items() if k != missing}
    with pytest.raises(ValidationError):
        DeviceStatus.model_validate(data)


def test_strict_json_also_rejects_string_numbers() -> None:
    with pytest.raises(ValidationError):
        DeviceStatus.model_validate_json('{"online": true, "boot": "5", "conn": 1, "install_id": "a"}')


def test_unknown_fields_are_ignored() -> None:
    status = _status(future_field={"x": 1}, another=5)
    assert not hasattr(status, "future_field")
    assert "future_field" not in status.model_dump()
    tele = Telemetry.model_validate({"ts": 1, "uptime_s": 2, "gpu_temp_c": 40})
    assert "gpu_temp_c" not in tele.model_dump()


def test_models_are_frozen() -> None:
    status = _status()
    with pytest.raises(ValidationError):
        status.boot = 9  # type: ignore[misc]


def test_presence_key_orders_connections() -> None:
    birth_old_boot = _status(boot=3, conn=9)
    will_same_boot = _status(online=False, boot=4, conn=1)
    birth_newer_conn = _status(boot=4, conn=2)
    assert birth_old_boot.presence_key() == (3, 9)
    assert birth_old_boot.presence_key() < will_same_boot.presence_key() < birth_newer_conn.presence_key()
    # a late will of connection 1 must not hide the birth of connection 2
    assert will_same_boot.presence_key() < birth_newer_conn.presence_key()
    # a new boot outranks any connection counter of the previous boot
    assert _status(boot=5, conn=0).presence_key() > _status(boot=4, conn=10_000).presence_key()
    ordered = sorted([birth_newer_conn, birth_old_boot, will_same_boot], key=DeviceStatus.presence_key)
    assert ordered == [birth_old_boot, will_same_boot, birth_newer_conn]


# --- Telemetry, Reported, settings --------------------------------------------------------


def test_telemetry_accepts_full_report() -> None:
    tele = Telemetry.model_validate(
        {
            "ts": 1_700_000_000_000,
            "uptime_s": 12.5,
            "load1": 0.3,
            "mem_used_pct": 41.0,
            "disk_free_mb": 1200,
            "cpu_temp_c": -10,
            "agent_version": "0.1.0",
            "iface": "wwan0",
            "signal_dbm": -87,
            "volume": 80,
            "rejected_messages": 2,
            "bytes_received": 10_000,
        }
    )
    assert tele.volume == 80
    assert tele.signal_dbm == -87
    assert tele.disk_free_mb == 1200


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("volume", 101),
        ("volume", -1),
        ("volume", 50.5),
        ("volume", "50"),
        ("mem_used_pct", 100.1),
        ("mem_used_pct", -0.1),
        ("cpu_temp_c", 151),
        ("cpu_temp_c", -61),
        ("signal_dbm", 1),
        ("signal_dbm", -201),
        ("uptime_s", -1),
        ("uptime_s", "12"),
        ("rejected_messages", -1),
        ("bytes_received", 1.5),
        ("ts", "1"),
        ("iface", "x" * 201),
    ],
)
def test_telemetry_rejects(field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        Telemetry.model_validate({"ts": 1, "uptime_s": 1, field: value})


@pytest.mark.parametrize("volume", [0, 1, 50, 100, None])
def test_volume_range_edges(volume: int | None) -> None:
    assert DeviceSettings(volume=volume).volume == volume
    assert Reported.model_validate({"ts": 0, "applied": {}, "volume": volume}).volume == volume


@pytest.mark.parametrize("volume", [-1, 101, 1000, "80", 80.0, True])
def test_settings_reject_bad_volume(volume: Any) -> None:
    with pytest.raises(ValidationError):
        DeviceSettings.model_validate({"volume": volume})
    with pytest.raises(ValidationError):
        DeviceSettings.model_validate({"emergency_volume_floor": volume})


def test_reported_requires_applied_versions() -> None:
    with pytest.raises(ValidationError):
        Reported.model_validate({"ts": 0})
    reported = Reported.model_validate({"ts": 5, "applied": {"device": 2, "areas": {"xa-1": 3}}})
    assert reported.applied.areas == {"xa-1": 3}


# --- DesiredState, Command ----------------------------------------------------------------


def test_desired_state_valid() -> None:
    state = DesiredState.model_validate(
        {
            "scope": "device",
            "target": "dev-1",
            "version": 3,
            "settings": {"volume": 70},
            "areas": ["tinh-a", "huyen-b", "xa-c", "thon-d"],
        }
    )
    assert state.settings.volume == 70
    assert state.areas == ["tinh-a", "huyen-b", "xa-c", "thon-d"]
    assert state.deleted is False
    area_state = DesiredState.model_validate({"scope": "area", "target": "xa-c", "version": 1})
    assert area_state.areas is None
    assert area_state.settings == DeviceSettings()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("scope", "commune"),
        ("scope", "Device"),
        ("target", "Dev-1"),
        ("target", "dev/1"),
        ("target", "+"),
        ("version", 0),
        ("version", "3"),
        ("version", 3.0),
        ("settings", {"volume": 101}),
        ("areas", ["ok", "Not-Ok"]),
        ("areas", ["a.b"]),
        ("areas", [f"a{i}" for i in range(17)]),
        ("areas", "xa-1"),
        ("deleted", "false"),
        ("deleted", 0),
    ],
)
def test_desired_state_rejects(field: str, value: Any) -> None:
    data = {"scope": "device", "target": "dev-1", "version": 3, field: value}
    with pytest.raises(ValidationError):
        DesiredState.model_validate(data)


def test_command_valid_and_args_free_form() -> None:
    cmd = Command.model_validate({"id": "c-0001", "name": "play-test-tone", "args": {"sec": 3, "x": [1]}})
    assert cmd.args == {"sec": 3, "x": [1]}
    assert Command.model_validate({"id": "c1", "name": "reboot"}).args == {}


@pytest.mark.parametrize(
    "data",
    [
        {"id": "C1", "name": "reboot"},
        {"id": "c1", "name": "re boot"},
        {"id": "c1", "name": "reboot", "args": []},
        {"id": 1, "name": "reboot"},
        {"name": "reboot"},
    ],
)
def test_command_rejects(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Command.model_validate(data)


def test_command_reply() -> None:
    reply = CommandReply.model_validate({"id": "c1", "ok": False, "detail": "nope"})
    assert reply.ok is False and reply.ts == 0
    with pytest.raises(ValidationError):
        CommandReply.model_validate({"id": "c1", "ok": "yes"})
    with pytest.raises(ValidationError):
        CommandReply.model_validate({"id": "c1", "ok": True, "detail": "x" * 201})


# --- events, clock, controller state ------------------------------------------------------


def test_device_event_and_ack() -> None:
    event = DeviceEvent.model_validate(
        {"install_id": "inst-1", "seq": 1, "type": "played", "ts": 5, "data": {"item": "a"}}
    )
    assert event.seq == 1 and event.data == {"item": "a"}
    for bad in ({"seq": 0}, {"seq": "1"}, {"type": "Played"}, {"ts": -5}, {"install_id": "a b"}):
        with pytest.raises(ValidationError):
            DeviceEvent.model_validate({"install_id": "i", "seq": 1, "type": "played", "ts": 5, **bad})
    ack = EventAck.model_validate({"install_id": "inst-1", "seqs": [1, 2, 3]})
    assert ack.seqs == [1, 2, 3]
    for seqs in ([0], ["1"], list(range(1, 1002)), 5):
        with pytest.raises(ValidationError):
            EventAck.model_validate({"install_id": "inst-1", "seqs": seqs})


def test_clock_messages() -> None:
    req = ClockRequest.model_validate({"nonce": "abcDEF12_-", "t0_us": 123})
    assert req.nonce == "abcDEF12_-"
    reply = ClockReply.model_validate({"nonce": req.nonce, "t0_us": 123, "t1_us": 200, "t2_us": 210})
    assert (reply.t1_us, reply.t2_us) == (200, 210)
    for nonce in ("short", "x" * 65, "has space1", "bad/slash1", "ünicode12", 12345678):
        with pytest.raises(ValidationError):
            ClockRequest.model_validate({"nonce": nonce, "t0_us": 1})
    with pytest.raises(ValidationError):
        ClockRequest.model_validate({"nonce": "abcdefgh", "t0_us": "1"})
    with pytest.raises(ValidationError):
        ClockReply.model_validate({"nonce": "abcdefgh", "t0_us": 1, "t1_us": 2})


def test_controller_state() -> None:
    state = ControllerState.model_validate({"online": False, "instance": "ctl-a"})
    assert state.online is False and state.ts == 0
    for bad in ({"instance": "CTL"}, {"instance": "ctl/a"}, {"online": "no"}, {"ts": -1}):
        with pytest.raises(ValidationError):
            ControllerState.model_validate({"online": True, "instance": "ctl-a", **bad})


@pytest.mark.parametrize("value", ["abc\n", "a\nb", "\na"])
def test_message_slugs_reject_newlines(value: str) -> None:
    with pytest.raises(ValidationError):
        ControllerState.model_validate({"online": True, "instance": value})


@pytest.mark.parametrize("value", ["a--b", "xa--1"])
def test_message_slugs_agree_with_topic_slugs(value: str) -> None:
    assert not is_slug(value)
    with pytest.raises(ValidationError):
        DesiredState.model_validate({"scope": "device", "target": "dev-1", "version": 1, "areas": [value]})
