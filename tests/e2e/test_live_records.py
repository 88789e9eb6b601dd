"""A live broadcast's recording: in the library with the broadcast, the same audio the receivers
played (cross-correlated with their cards' recordings), listed in the report; a correction names
the broadcast it answers, and the report shows the pair."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import numpy as np
import pytest

from loalang_stack.icecast import Icecast
from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.browser import accessibility_violations, log_in
from tests.testkit import (
    ADMIN_PASSWORD,
    API,
    Fleet,
    loud_after,
    new_commune,
    receipts,
    start_relay,
    wait_for,
    wall_clock_audio,
)

pytestmark = pytest.mark.e2e

ON_AIR_S = 7.0
MATCH_AT_LEAST = 0.9  # normalised cross-correlation: the same audio, decoded twice, gives about 0.99


def decoded(ogg: bytes) -> np.ndarray:
    """An Ogg Opus file as 48 kHz mono samples (ffmpeg decodes it, as any listener's player would)."""
    command = ["ffmpeg", "-v", "error", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", "48000", "-"]
    pcm = subprocess.run(command, input=ogg, capture_output=True, check=True, timeout=60).stdout
    return np.frombuffer(pcm, dtype="<i2").astype(float)


def best_match(segment: np.ndarray, played: np.ndarray) -> float:
    """The highest normalised cross-correlation of segment against any stretch of played."""
    size = 1 << int(np.ceil(np.log2(len(played) + len(segment))))
    raw = np.fft.irfft(np.fft.rfft(played, size) * np.conj(np.fft.rfft(segment, size)), size)
    raw = raw[: len(played) - len(segment) + 1]
    squares = np.concatenate(([0.0], np.cumsum(np.square(played, dtype=np.float64))))
    energy = squares[len(segment):] - squares[:-len(segment)]  # of each stretch, from running sums
    normalised = raw / (np.sqrt(np.maximum(energy, 1e-9)) * np.linalg.norm(segment))
    return float(normalised.max())


def ended_with_recording(fleet: Fleet, broadcast_id: str) -> dict[str, Any] | None:
    broadcast: dict[str, Any] = fleet.http.get(f"{API}/broadcasts/{broadcast_id}").json()
    return broadcast if broadcast["status"] != "on_air" and broadcast["recording_sha256"] else None


def test_a_live_broadcast_is_recorded_in_the_library_as_the_receivers_played_it(
        fleet: Fleet, station: Icecast, controller: ControllerProcess, open_page: Any) -> None:
    commune, villages = new_commune(fleet, villages=2)
    cards = []
    for village in villages:
        device_id, config = fleet.enrolled_agent(area=village)
        fleet.start(config)
        wait_for(lambda d=device_id: fleet.online(d), 10.0, what="online")
        cards.append(config_file.load(config).data_dir / "card")
    live = start_relay(fleet, station, [commune])
    for card in cards:
        wait_for(lambda c=card: loud_after(c, 0), 30.0, what="the station on the card")
    time.sleep(ON_AIR_S)
    fleet.http.post(f"{API}/broadcasts/{live['id']}/stop").raise_for_status()
    broadcast = wait_for(lambda: ended_with_recording(fleet, live["id"]), 20.0, what="the recording kept")

    library = {item["sha256"]: item for item in fleet.http.get(f"{API}/media").json()}
    item = library[broadcast["recording_sha256"]]
    assert item["kind"] == "recording" and item["title"] == f"Ghi âm: {broadcast['title']}", item
    assert item["area_id"] == commune
    listened = fleet.http.get(broadcast["recording_url"])
    assert listened.status_code == 200 and listened.headers["content-type"] == "audio/ogg"
    recorded = decoded(listened.content)
    assert abs(len(recorded) / 48000 - item["duration_ms"] / 1000) < 0.1, "its length as the library says"
    assert len(recorded) / 48000 > ON_AIR_S, "from its first audio to the stop"

    segment = recorded[2 * 48000: int(3.5 * 48000)]
    for card in cards:
        _, played, _ = wall_clock_audio(card)
        assert best_match(segment, played) > MATCH_AT_LEAST, f"{card}: the recording is what it played"
    assert best_match(np.random.default_rng(1).normal(0, 3000, len(segment)), wall_clock_audio(cards[0])[1]) \
        < 0.2, "a sound that never aired matches nothing"

    plays = fleet.http.get(f"{API}/reports/plays", params={"area_id": commune}).json()["plays"]
    live_rows = [row for row in plays if row["broadcast_id"] == live["id"]]
    assert len(live_rows) == 2 and {row["recording_url"] for row in live_rows} == {broadcast["recording_url"]}
    exported = fleet.http.get(f"{API}/reports/export", params={"area_id": commune}).json()["broadcasts"]
    assert {row["recording_url"] for row in exported if row["broadcast_id"] == live["id"]} == {
        broadcast["recording_url"]}

    page, _ = open_page()
    page.goto(f"{controller.url}/console/#/live")
    log_in(page, "admin", ADMIN_PASSWORD)
    listed = page.locator(f"li[data-broadcast='{live['id']}']")
    listed.wait_for(timeout=10_000)
    audio = listed.locator("audio")
    assert audio.get_attribute("src") == broadcast["recording_url"]
    seconds = audio.evaluate("""(a) => new Promise((done) => {
        a.addEventListener("loadedmetadata", () => done(a.duration), { once: true });
        a.preload = "auto"; a.load(); })""")
    assert abs(seconds - item["duration_ms"] / 1000) < 0.5, "the console's player opens the recording"
    assert accessibility_violations(page) == []


def test_a_correction_names_the_broadcast_it_answers_and_the_report_shows_the_pair(
        fleet: Fleet, controller: ControllerProcess, open_page: Any) -> None:
    _, villages = new_commune(fleet, villages=1)
    device_id, config = fleet.enrolled_agent(area=villages[0])
    fleet.start(config)
    wait_for(lambda: fleet.online(device_id), 10.0, what="online")

    def broadcast_text(text: str, **extra: Any) -> dict[str, Any]:
        response = fleet.http.post(f"{API}/broadcasts", json={
            "level": "normal", "text": text, "area_ids": villages, **extra})
        assert response.status_code == 201, response.text
        made: dict[str, Any] = response.json()
        return made

    first = broadcast_text("Lịch tiêm chủng vào sáng thứ bảy.", title="Lịch tiêm chủng")
    wrong = fleet.http.post(f"{API}/broadcasts", json={
        "level": "normal", "text": "Đính chính.", "area_ids": villages, "in_reply_to": "bc-0000000000000000"})
    assert wrong.status_code == 422 and wrong.json()["code"] == "unknown_broadcast", wrong.text
    assert wrong.json()["field"] == "in_reply_to"

    page, _ = open_page()
    page.goto(f"{controller.url}/console/#/broadcast")
    log_in(page, "admin", ADMIN_PASSWORD)
    form = page.locator("form.broadcast-form")
    form.locator("input[name=source][value=text]").check()
    form.locator("textarea[name=text]").fill("Đính chính: lịch tiêm chủng chuyển sang chủ nhật.")
    form.locator("select[name=in_reply_to]").select_option(first["id"])
    form.locator(f"input[name=area][value={villages[0]}]").check()
    assert accessibility_violations(page) == []
    form.get_by_role("button", name="Phát ngay…").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for(timeout=5_000)
    dialog.locator("button[value=ok]").click()

    def sent() -> dict[str, Any] | None:
        return next((b for b in fleet.http.get(f"{API}/broadcasts").json()
                     if b["area_ids"] == villages and b["id"] != first["id"]), None)
    correction = wait_for(sent, 30.0, what="the correction sent from the console")
    assert correction["in_reply_to"] == first["id"]

    def both_completed() -> bool:
        done = {r["data"]["occurrence"] for r in receipts(fleet, device_id, "completed")}
        rows = fleet.http.get(f"{API}/reports/plays", params={"area_id": villages[0]}).json()["plays"]
        return len(done) >= 2 and {r["broadcast_id"] for r in rows if r["outcome"] == "completed"} >= {
            first["id"], correction["id"]}

    wait_for(both_completed, 60.0, what="both played")
    rows = fleet.http.get(f"{API}/reports/plays", params={"area_id": villages[0]}).json()["plays"]
    [answer] = [row for row in rows if row["broadcast_id"] == correction["id"]]
    assert (answer["in_reply_to"], answer["in_reply_to_title"]) == (first["id"], "Lịch tiêm chủng")
    assert answer["title"] == correction["title"]
    [original] = [row for row in rows if row["broadcast_id"] == first["id"]]
    assert original["in_reply_to"] is None and original["recording_url"] is None
