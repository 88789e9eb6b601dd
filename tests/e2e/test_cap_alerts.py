"""CAP 1.2 alerts: heard only where the geocode matches, stopped by Cancel, Exercise only on test
devices, Draft never; only the alert role may post; hostile XML is refused."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.testkit import CAP_SENDER as SENDER
from tests.testkit import Fleet, dominant_frequencies, receipts, wait_for
from tests.testkit import cap_alert as cap

pytestmark = pytest.mark.e2e

API = "/api/v1"


@pytest.fixture
def warning_centre(fleet: Fleet, controller: ControllerProcess) -> httpx.Client:
    created = fleet.http.post(f"{API}/api-clients", json={
        "id": f"kttv-{secrets.token_hex(3)}", "name": "Đài khí tượng thủy văn", "role": "alert"})
    assert created.status_code == 201, created.text
    return httpx.Client(base_url=controller.url, timeout=30,
                        headers={"Authorization": f"Bearer {created.json()['key']}",
                                 "Content-Type": "application/xml"})


def villages(fleet: Fleet) -> tuple[str, str, str]:
    """Two villages of their own; the first answers to a geocode, which is returned."""
    suffix = secrets.token_hex(3)
    geocode = str(90000 + secrets.randbelow(9999))
    for name, codes in ((f"thon-lu-{suffix}", [f"VN-ADMIN:{geocode}"]), (f"thon-kho-{suffix}", [])):
        fleet.http.post(f"{API}/areas", json={"id": name, "name": name, "level": "village",
                                              "parent_id": "xa-mot", "geocodes": codes}).raise_for_status()
    return f"thon-lu-{suffix}", f"thon-kho-{suffix}", geocode


def heard(config: Path, since: float) -> list[tuple[float, float]]:
    return [(w, f) for w, f in dominant_frequencies(config_file.load(config).data_dir / "card") if w >= since]


def agent(fleet: Fleet, area: str, is_test: bool = False) -> tuple[str, Path]:
    device_id, config = fleet.enrolled_agent(area=area, is_test=is_test)
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 10.0, what="online")
    return device_id, config


@pytest.mark.sounds
def test_an_alert_sounds_where_its_geocode_matches_and_cancel_stops_it(
        fleet: Fleet, warning_centre: httpx.Client) -> None:
    flooded, dry, geocode = villages(fleet)
    (wet_id, wet), (_, dry_config) = agent(fleet, flooded), agent(fleet, dry)
    posted_at = time.time()
    first = warning_centre.post(f"{API}/alerts/cap", content=cap("lu-1", geocode))
    assert first.status_code == 200, first.text
    assert first.json()["outcome"] == "broadcast"
    broadcast_id = first.json()["broadcast_id"]
    wait_for(lambda: len(receipts(fleet, wet_id, "completed")) >= 2, 40.0, what="signal and speech played")
    sounds = heard(wet, posted_at)
    begin = sounds[0][0]
    chime = [round(f) for w, f in sounds if w < begin + 1.6]
    assert chime and {660, 880} >= set(chime), f"the attention signal sounds first: {chime}"
    speech = [w for w, _ in sounds if w > begin + 2.0]
    assert len(speech) > 10, "then the spoken alert"
    assert not heard(dry_config, posted_at), "the village the alert does not name stays silent"

    again = warning_centre.post(f"{API}/alerts/cap", content=cap("lu-1", geocode))
    assert again.json() == {**first.json(), "repeated": True}, "a repeated post changes nothing"

    long_text = " ".join(["Nước sông đang lên rất nhanh, bà con khẩn trương sơ tán người và tài sản."] * 6)
    second = warning_centre.post(f"{API}/alerts/cap", content=cap("lu-2", geocode, instruction=long_text))
    assert second.json()["outcome"] == "broadcast" and second.json()["broadcast_id"] != broadcast_id
    wait_for(lambda: len(receipts(fleet, wet_id, "started")) >= 4, 30.0, what="the second alert speaking")
    time.sleep(2)  # it speaks a while: the Cancel cuts it off mid-sentence
    cancelled_at = time.time()
    cancel = warning_centre.post(f"{API}/alerts/cap", content=cap(
        "lu-2-huy", geocode, msg_type="Cancel", references=f"{SENDER},lu-2,2026-11-27T00:00:00+00:00"))
    assert cancel.json()["outcome"] == "cancelled", cancel.text
    wait_for(lambda: receipts(fleet, wet_id, "stopped"), 10.0, what="stopped")
    time.sleep(3)  # the card records on: a sound 2 s after the Cancel would be on it now
    assert max(w for w, _ in heard(wet, posted_at)) < cancelled_at + 2.0, "silent within 2 s of the Cancel"

    draft = warning_centre.post(f"{API}/alerts/cap", content=cap("lu-3", geocode, status="Draft"))
    assert draft.json()["outcome"] == "not_sounded"
    time.sleep(6)  # long enough for an alert to be sounding, had the Draft been aired
    assert not heard(wet, cancelled_at + 2.0), "a Draft never sounds"


@pytest.mark.sounds
def test_an_exercise_sounds_only_on_test_devices(fleet: Fleet, warning_centre: httpx.Client) -> None:
    flooded, _, geocode = villages(fleet)
    (_, ordinary), (test_id, test_config) = agent(fleet, flooded), agent(fleet, flooded, is_test=True)
    posted_at = time.time()
    exercise = warning_centre.post(f"{API}/alerts/cap", content=cap("tap-1", geocode, status="Exercise"))
    assert exercise.json()["outcome"] == "broadcast", exercise.text
    wait_for(lambda: len(receipts(fleet, test_id, "completed")) >= 2, 40.0, what="the exercise played")
    assert heard(test_config, posted_at)
    assert not heard(ordinary, posted_at), "an ordinary cluster stays silent in an exercise"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol3;</identifier></alert>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&secret;</identifier></alert>"""


@pytest.mark.parametrize("document, reason", [
    (BILLION_LAUGHS, "entities"),
    (EXTERNAL_ENTITY, "entities"),
    (b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>x</identifier>", "well-formed"),
    (b"not xml at all", "well-formed"),
    (b"", "well-formed"),
    (b"<alert><identifier>x</identifier></alert>", "namespace"),
    (cap("x", "1").replace(b"<status>Actual</status>", b""), "status"),
    (cap("x", "1").replace(b"<status>Actual</status>", b"<status>Real</status>"), "status"),
    (cap("x", "1").replace(b"<msgType>Alert</msgType>", b"<msgType>Shout</msgType>"), "msgType"),
    (cap("x", "1").replace(b"+00:00</sent>", b"</sent>"), "sent"),
    (cap("x", "1", msg_type="Cancel", references="only-two,parts"), "references"),
    (b"<a>" + b"x" * 300_000 + b"</a>", "KiB"),
])
def test_hostile_and_malformed_alerts_are_refused_with_the_reason(
        warning_centre: httpx.Client, document: bytes, reason: str) -> None:
    response = warning_centre.post(f"{API}/alerts/cap", content=document)
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]


def test_only_the_alert_role_may_post(fleet: Fleet, controller: ControllerProcess) -> None:
    document = cap("quyen-1", "1")
    assert fleet.http.post(f"{API}/alerts/cap", content=document).status_code == 403, "not even an admin"
    viewer = fleet.http.post(f"{API}/api-clients", json={"id": f"xem-{secrets.token_hex(3)}", "name": "Xem",
                                                         "role": "viewer"}).json()
    headers: dict[str, Any] = {"Authorization": f"Bearer {viewer['key']}"}
    assert httpx.post(f"{controller.url}{API}/alerts/cap", content=document,
                      headers=headers).status_code == 403
    assert httpx.post(f"{controller.url}{API}/alerts/cap", content=document).status_code == 401
