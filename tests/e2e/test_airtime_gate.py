"""One gate to the air, over the real controller, broker and agents: the holes an outside try found
(each refused now, and nothing heard), and the rules table walked cell by cell."""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from controller.airtime import rules
from controller.airtime.rules import Level, Road, Verdict
from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.testkit import (
    ADMIN_PASSWORD,
    CAP_SENDER,
    USER_PASSWORD,
    Fleet,
    api_client,
    audit_entries,
    cap_alert,
    dominant_frequencies,
    new_commune,
    ping,
    upload_media,
    user_client,
    wait_for,
    write_steps_wav,
)

pytestmark = pytest.mark.e2e

API = "/api/v1"
FORBIDDEN_HZ = 1700.0  # what every refused ask tries to play
ALLOWED_HZ = 600.0


def heard(config: Path, since: float) -> set[int]:
    """The dominant frequencies (rounded to 50 Hz) the agent's card played since a wall time."""
    card = config_file.load(config).data_dir / "card"
    return {round(f / 50) * 50 for w, f in dominant_frequencies(card) if w >= since}


def listening_agent(fleet: Fleet, area: str) -> tuple[str, Path]:
    device_id, config = fleet.enrolled_agent(area=area)
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 10.0, what="online")
    return device_id, config


def tone(fleet: Fleet, tmp_path: Path, hz: float) -> tuple[str, int]:
    return upload_media(fleet, write_steps_wav(tmp_path / f"tone-{hz:.0f}.wav", [hz]))


def later_local(minutes: int) -> str:
    """A local wall time (Vietnam) some minutes from now, outside the test province's quiet hours."""
    later = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(minutes=minutes)
    return later.strftime("%Y-%m-%dT%H:%M")


def filed_bulletin(http: httpx.Client, sha: str, area: str, level: str = "normal") -> str:
    """A bulletin of a library file, filed and submitted by whoever http is; returns its id."""
    created = http.post(f"{API}/bulletins", json={"title": "Tin", "level": level, "media_sha256": sha,
                                                  "area_id": area})
    assert created.status_code == 201, created.text
    http.post(f"{API}/bulletins/{created.json()['id']}/submit").raise_for_status()
    return str(created.json()["id"])


@pytest.mark.sounds
def test_a_technician_sounds_only_a_short_tone_on_a_device_of_its_own(
        fleet: Fleet, tmp_path: Path) -> None:
    commune_id, (village,) = new_commune(fleet, villages=1)
    device_id, config = listening_agent(fleet, village)
    sha, size = tone(fleet, tmp_path, FORBIDDEN_HZ)
    technician, name = user_client(fleet, "technician", commune_id)
    since = time.time()
    siren = {"level": "emergency", "quiet_override": True, "start_ms": int(since * 1000) + 2000,
             "duration_ms": 1000, "source": {"type": "media", "sha256": sha, "size": size}}
    for target in ({"area_id": commune_id}, {"device_id": device_id}):
        refused = technician.post(f"{API}/occurrences", json={**siren, **target})
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "role_not_allowed"
    area_tone = technician.post(f"{API}/areas/{commune_id}/commands",
                                json={"name": "test-tone", "args": {"frequency_hz": FORBIDDEN_HZ}})
    assert area_tone.status_code == 403 and area_tone.json()["code"] == "role_not_allowed"
    overridden = technician.post(f"{API}/devices/{device_id}/commands", json={
        "name": "test-tone", "args": {"frequency_hz": FORBIDDEN_HZ}, "quiet_override": True})
    assert overridden.status_code == 403 and overridden.json()["code"] == "quiet_override_not_allowed"
    own = technician.post(f"{API}/devices/{device_id}/commands",
                          json={"name": "test-tone", "args": {"frequency_hz": ALLOWED_HZ, "seconds": 1}})
    assert own.status_code == 202, own.text
    wait_for(lambda: ALLOWED_HZ in heard(config, since), 10.0, what="the technician's test tone")
    chime = technician.post(f"{API}/devices/{device_id}/commands", json={"name": "chime"})
    assert chime.status_code == 202, chime.text
    wait_for(lambda: {650, 900} <= heard(config, since), 10.0, what="the device's chime (660 and 880 Hz)")
    time.sleep(max(0.0, since + 5 - time.time()))  # a refused siren would have sounded by now
    assert FORBIDDEN_HZ not in heard(config, since), "a refused siren played"
    codes = {e["detail"]["code"] for e in audit_entries(fleet, "airtime.refuse", name)}
    assert codes == {"role_not_allowed", "quiet_override_not_allowed"}
    granted = [e["detail"]["command"] for e in audit_entries(fleet, "airtime.grant", name)]
    assert granted == ["chime", "test-tone"], granted


def test_an_operator_confirms_an_emergency_on_every_road(fleet: Fleet, tmp_path: Path) -> None:
    commune_id, (village, strict) = new_commune(fleet)
    fleet.http.patch(f"{API}/areas/{strict}",
                     json={"emergency_confirm": "second_approver"}).raise_for_status()
    sha, size = tone(fleet, tmp_path, FORBIDDEN_HZ)
    operator, name = user_client(fleet, "operator", commune_id)
    occurrence = operator.post(f"{API}/occurrences", json={
        "area_id": village, "level": "emergency", "start_ms": int(time.time() * 1000) + 5000,
        "duration_ms": 1000, "source": {"type": "media", "sha256": sha, "size": size}})
    assert occurrence.status_code == 403 and occurrence.json()["code"] == "role_not_allowed"

    bulletin = filed_bulletin(operator, sha, commune_id, level="emergency")
    when = {"kind": "once", "start_local": later_local(30), "area_ids": [village]}
    unconfirmed = operator.post(f"{API}/bulletins/{bulletin}/schedules", json=when)
    assert unconfirmed.status_code == 403, unconfirmed.text
    assert unconfirmed.json() | {"detail": ""} == {"detail": "", "code": "confirmation_required",
                                                    "field": "confirm_password"}
    wrong = operator.post(f"{API}/bulletins/{bulletin}/schedules", json={**when, "confirm_password": "doan"})
    assert wrong.json()["code"] == "confirmation_wrong"
    confirmed = operator.post(f"{API}/bulletins/{bulletin}/schedules",
                              json={**when, "confirm_password": USER_PASSWORD})
    assert confirmed.status_code == 201, confirmed.text
    assert confirmed.json()["confirmed_by"] == name and confirmed.json()["active"] is True

    waiting = operator.post(f"{API}/bulletins/{bulletin}/schedules",
                            json={**when, "area_ids": [strict], "confirm_password": USER_PASSWORD}).json()
    assert (waiting["awaiting_confirmation"], waiting["active"]) == (True, False)
    day = when["start_local"][:10]
    assert not fleet.http.get(f"{API}/schedule-preview", params={"area_id": strict, "date": day}).json()
    assert operator.post(f"{API}/schedules/{waiting['id']}/confirm").json()["code"] == "role_not_allowed"
    approver, approver_name = user_client(fleet, "approver", commune_id)
    done = approver.post(f"{API}/schedules/{waiting['id']}/confirm")
    assert done.status_code == 200, done.text
    assert (done.json()["active"], done.json()["confirmed_by"]) == (True, approver_name)
    assert fleet.http.get(f"{API}/schedule-preview", params={"area_id": strict, "date": day}).json()
    for schedule in (confirmed.json()["id"], waiting["id"]):
        fleet.http.delete(f"{API}/schedules/{schedule}").raise_for_status()
    fleet.http.patch(f"{API}/areas/{strict}", json={"emergency_confirm": "password"}).raise_for_status()


def test_approval_is_checked_on_every_area_a_broadcast_reaches(fleet: Fleet, tmp_path: Path) -> None:
    commune_id, (guarded, open_village) = new_commune(fleet)
    fleet.http.patch(f"{API}/areas/{guarded}", json={"approval": "required"}).raise_for_status()
    sha, _ = tone(fleet, tmp_path, FORBIDDEN_HZ)
    operator, _ = user_client(fleet, "operator", commune_id)
    unreviewed = filed_bulletin(operator, sha, commune_id)
    assert operator.get(f"{API}/bulletins/{unreviewed}").json()["status"] == "approved", "no approval there"
    for targets in ([guarded], [commune_id]):
        refused = operator.post(f"{API}/broadcasts", json={"level": "normal", "bulletin_id": unreviewed,
                                                           "area_ids": targets})
        assert refused.status_code == 403, (targets, refused.text)
        assert refused.json()["code"] == "approval_required" and guarded in refused.json()["detail"]
    refused = operator.post(f"{API}/broadcasts", json={"level": "normal", "media_sha256": sha,
                                                       "area_ids": [guarded]})
    assert refused.json()["code"] == "approval_required", "a bare file neither"
    scheduled = operator.post(f"{API}/bulletins/{unreviewed}/schedules", json={
        "kind": "once", "start_local": later_local(30), "area_ids": [commune_id]})
    assert scheduled.json()["code"] == "approval_required", "nor a schedule"
    allowed = operator.post(f"{API}/broadcasts", json={"level": "normal", "bulletin_id": unreviewed,
                                                       "area_ids": [open_village]})
    assert allowed.status_code == 201, allowed.text

    created = operator.post(f"{API}/bulletins", json={"title": "Tin duyệt", "level": "normal",
                                                      "media_sha256": sha, "area_id": guarded}).json()
    assert operator.post(f"{API}/bulletins/{created['id']}/submit").json()["status"] == "pending"
    approver, _ = user_client(fleet, "approver", commune_id)
    approver.post(f"{API}/bulletins/{created['id']}/approve", json={}).raise_for_status()
    reviewed = operator.post(f"{API}/broadcasts", json={"level": "normal", "bulletin_id": created["id"],
                                                        "area_ids": [guarded]})
    assert reviewed.status_code == 201, reviewed.text
    fleet.http.patch(f"{API}/areas/{guarded}", json={"approval": "none"}).raise_for_status()


def test_a_warning_centres_alerts_are_its_own(fleet: Fleet, tmp_path: Path) -> None:
    geocode = str(80000 + secrets.randbelow(9999))
    _, (flooded, other) = new_commune(fleet)
    fleet.http.patch(f"{API}/areas/{flooded}", json={"geocodes": [f"VN-ADMIN:{geocode}"]}).raise_for_status()
    centre, centre_name = api_client(fleet, "alert", None)
    rogue, rogue_name = api_client(fleet, "alert", other)
    # made before the alert sounds: the alert must still be on the air when it cancels it
    supervisor, _ = api_client(fleet, "alert", None, cancels_others=True)
    for client in (centre, rogue, supervisor):
        client.headers["Content-Type"] = "application/xml"
    identifier = f"lu-{secrets.token_hex(3)}"
    draft = rogue.post(f"{API}/alerts/cap", content=cap_alert(identifier, geocode, status="Draft"))
    assert draft.json()["outcome"] == "not_sounded"
    real = centre.post(f"{API}/alerts/cap", content=cap_alert(identifier, geocode, severity="Extreme"))
    assert real.status_code == 200, real.text
    assert (real.json()["outcome"], real.json()["repeated"]) == ("broadcast", False), \
        "another client's draft hides nothing"
    broadcast_id = real.json()["broadcast_id"]
    reference = f"{CAP_SENDER},{identifier},2026-01-01T00:00:00+00:00"
    cancel = cap_alert(f"huy-{identifier}", geocode, msg_type="Cancel", references=reference)
    forged = rogue.post(f"{API}/alerts/cap", content=cancel)
    assert forged.json()["outcome"] == "nothing_to_cancel", forged.text
    assert fleet.http.get(f"{API}/broadcasts/{broadcast_id}").json()["status"] == "on_air"
    overseen = supervisor.post(f"{API}/alerts/cap", content=cancel)
    assert overseen.json()["outcome"] == "cancelled", "a client an admin let cancel others' alerts"
    assert fleet.http.get(f"{API}/broadcasts/{broadcast_id}").json()["status"] == "stopped"
    stale = cap_alert(f"cu-{identifier}", geocode, expires_in_s=-60)
    expired = centre.post(f"{API}/alerts/cap", content=stale)
    assert expired.status_code == 422 and expired.json()["code"] == "alert_expired"
    viewer, _ = user_client(fleet, "viewer", other)
    listed = {(a["client"], a["identifier"]) for a in viewer.get(f"{API}/alerts").json()}
    assert {(rogue_name, identifier), (rogue_name, f"huy-{identifier}")} <= listed, "its own scope's client"
    assert not any(client == centre_name for client, _ in listed), "not the centre's alerts elsewhere"


@pytest.mark.sounds
def test_no_device_id_can_take_the_controllers_broker_account(fleet: Fleet, tmp_path: Path) -> None:
    _, (village,) = new_commune(fleet, villages=1)
    witness, _ = listening_agent(fleet, village)
    longest = "loa-" + secrets.token_hex(22)  # 48 characters, the longest id there may be
    for name in ("loalang-controller", "controller-ctl-1", longest):
        created = fleet.http.post(f"{API}/devices", json={"id": name, "name": name, "area_id": village,
                                                           "latitude": 18.7, "longitude": 105.7})
        assert created.status_code == 201, created.text
        if name != "loalang-controller":  # enrolled and running: its session must not take the controller's
            folder = tmp_path / name
            assert fleet.enroll(created.json()["claim"]["claim_code"], folder).returncode == 0
            assert config_file.load(folder / "agent.toml").broker.username == f"dev-{name}"
            fleet.start(folder / "agent.toml")
            wait_for(lambda n=name: fleet.online(n), 10.0, what="the device online")
        assert fleet.http.delete(f"{API}/devices/{name}").status_code == 204
    assert httpx.get(f"{fleet.controller.url}/healthz").status_code == 200
    assert ping(fleet, witness)["ok"] is True, "the controller still reaches its devices"


# -- the rules table, cell by cell --------------------------------------------------------------

ROLES = ("admin", "operator", "approver", "technician", "viewer", "alert")
SEVERITY = {"normal": "Minor", "priority": "Moderate", "emergency": "Extreme"}


class Walk:
    """What the walk needs: the targets, the files, one bulletin per level, the relay nobody serves."""

    def __init__(self, fleet: Fleet, tmp_path: Path) -> None:
        self.fleet = fleet
        self.geocode = str(70000 + secrets.randbelow(9999))
        self.commune, (self.village,) = new_commune(fleet, villages=1)
        fleet.http.patch(f"{API}/areas/{self.village}",
                         json={"geocodes": [f"VN-ADMIN:{self.geocode}"]}).raise_for_status()
        self.forbidden = tone(fleet, tmp_path, FORBIDDEN_HZ)
        self.allowed = tone(fleet, tmp_path, ALLOWED_HZ)
        self.bulletins = {level: {sha: filed_bulletin(fleet.http, sha, self.commune, level)
                                  for sha in (self.forbidden[0], self.allowed[0])}
                          for level in ("background", "normal", "priority", "emergency")}
        self.schedules: list[str] = []

    def ask(self, http: httpx.Client, road: Road, level: str, allowed: bool, password: str | None
            ) -> httpx.Response:
        """Ask for the cell's airtime with the file that may (or may not) be heard."""
        sha, size = self.allowed if allowed else self.forbidden
        confirm = {"confirm_password": password} if password else {}
        if road is Road.BROADCAST:
            return http.post(f"{API}/broadcasts", json={"level": level, "media_sha256": sha,
                                                        "area_ids": [self.village], **confirm})
        if road is Road.LIVE:
            return http.post(f"{API}/broadcasts", json={
                "level": level, "area_ids": [self.village], **confirm,
                "live": {"kind": "relay", "url": "http://127.0.0.1:9/nobody.mp3"}})
        if road is Road.SCHEDULE:
            bulletin = self.bulletins.get(level, {}).get(sha, "b-none")
            return http.post(f"{API}/bulletins/{bulletin}/schedules", json={
                "kind": "once", "start_local": later_local(30), "area_ids": [self.village], **confirm})
        if road is Road.OCCURRENCE:
            return http.post(f"{API}/occurrences", json={
                "area_id": self.village, "level": level, "start_ms": int(time.time() * 1000) + 3000,
                "duration_ms": 1000, "source": {"type": "media", "sha256": sha, "size": size}, **confirm})
        identifier = f"o-{secrets.token_hex(4)}"
        return http.post(f"{API}/alerts/cap", headers={"Content-Type": "application/xml"},
                         content=cap_alert(identifier, self.geocode, severity=SEVERITY.get(level, "Minor")))

    def cleanup(self, response: httpx.Response) -> None:
        """Stop what an allowed cell put on the air or scheduled, so the next cells start clear."""
        body: dict[str, Any] = response.json()
        if "next_plays_ms" in body:
            self.fleet.http.delete(f"{API}/schedules/{body['id']}")
        broadcast = body.get("broadcast_id") or (body.get("id") if "live_kind" in body else None)
        if broadcast:
            self.fleet.http.post(f"{API}/broadcasts/{broadcast}/stop")


@pytest.mark.sounds
def test_every_cell_of_the_rules_table(fleet: Fleet, controller: ControllerProcess, tmp_path: Path) -> None:
    """Each (role, road, level): the answer the table gives, the confirmation it demands, the audit
    entry of the decision; a refused cell plays nothing (the cards never hear the forbidden tone)."""
    walk = Walk(fleet, tmp_path)
    _, config = listening_agent(fleet, walk.village)
    callers: list[tuple[str, httpx.Client, str, str | None]] = [
        ("admin", fleet.http, "admin", ADMIN_PASSWORD)]
    for role in ROLES[1:5]:
        http, name = user_client(fleet, role, walk.commune)
        callers.append((role, http, name, USER_PASSWORD))
    for role in ("operator", "alert"):
        http, name = api_client(fleet, role, walk.commune)
        callers.append((role, http, name, None))
    since = time.time()
    for role, http, name, password in callers:
        for road in Road:
            for level in Level:
                if road is Road.ALERT and level not in rules.LEVELS_ON[road]:
                    continue  # an alert's level follows its severity: nobody can ask for these
                check_cell(walk, http, name, role, road, level, rules.verdict(role, road, level), password)
    time.sleep(4)  # a refused cell's tone would have sounded by now
    assert FORBIDDEN_HZ not in heard(config, since), "a refused cell was heard"


def newest(fleet: Fleet, action: str, actor: str) -> dict[str, Any] | None:
    """The newest audit entry of one action by one actor, among the latest entries."""
    entries = audit_entries(fleet, action, actor, limit=50)
    return entries[0] if entries else None


def check_cell(walk: Walk, http: httpx.Client, name: str, role: str, road: Road, level: Level,
               cell: Verdict | None, password: str | None) -> None:
    where = (role, name, road.value, level.value)
    if cell is None:  # the road does not carry the level: the request itself is refused
        refused = walk.ask(http, road, level, allowed=False, password=password)
        assert refused.status_code in (404, 422), (where, refused.text)
        return
    before = newest(walk.fleet, "airtime.refuse", name)
    if cell is Verdict.NO:
        refused = walk.ask(http, road, level, allowed=False, password=password)
        answer = (refused.status_code, refused.json().get("code"))
        assert answer == (403, "role_not_allowed"), (where, refused.text)
        after = newest(walk.fleet, "airtime.refuse", name)
        assert after is not None and after != before and after["detail"]["code"] == "role_not_allowed", where
        return
    if cell is Verdict.CONFIRM:
        demanded = walk.ask(http, road, level, allowed=False, password=None)
        expected = "confirmation_required" if password else "password_confirmation_impossible"
        assert (demanded.status_code, demanded.json()["code"]) == (403, expected), (where, demanded.text)
        after = newest(walk.fleet, "airtime.refuse", name)
        assert after is not None and after != before and after["detail"]["code"] == expected, where
        if password is None:
            return
    granted = walk.ask(http, road, level, allowed=True, password=password)
    assert granted.status_code in (200, 201), (where, granted.text)
    grant = newest(walk.fleet, "airtime.grant", name)
    assert grant is not None, where
    assert (grant["detail"]["road"], grant["detail"]["level"]) == (road.value, level.value), where
    assert grant["detail"]["confirmed_by_password"] == (cell is Verdict.CONFIRM), where
    walk.cleanup(granted)
