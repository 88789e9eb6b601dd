"""Knowing a bulletin was heard: four clusters with a microphone at their horns (the simulated one,
hearing the simulated card through an acoustic path) play the same bulletin. The healthy one is
heard; the one whose amplifier is dead is not, and opens an `amplifier_silent` incident; the one
with a horn cut is heard 6 dB lower than its healthy neighbour; the one that sounds another cluster's
programme is flagged (`wrong_audio`). A cluster without a microphone says it cannot know. The field
view on a technician's phone says in words what the dead one's microphone measured; the commune's
dashboard counts the clusters that played unheard apart from those offline, and marks them on its map."""

from __future__ import annotations

import json
import math
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.browser import accessibility_violations, fact, log_in
from tests.testkit import (
    ADMIN_PASSWORD,
    OPERATOR_PASSWORD,
    Fleet,
    new_commune,
    operator_of,
    receipts,
    schedule,
    upload_media,
    wait_for,
)

pytestmark = pytest.mark.e2e

PATH = {"delay_ms": 90, "gain_db": -20, "noise_dbfs": -52}  # the same pole, microphone and village for all
BURSTS = [(0.5, 0.2), (0.9, 0.3), (0.3, 0.15), (0.7, 0.4), (0.4, 0.2), (0.6, 0.3)]  # (sound, pause) s


def bulletin_wav(path: Path) -> Path:
    """A bulletin with the rhythm of speech: bursts of a 520 Hz tone and pauses, about 5 s."""
    rate, parts = 48_000, []
    for on, off in BURSTS:
        t = np.arange(int(on * rate)) / rate
        parts += [0.4 * np.sin(2 * np.pi * 520 * t), np.zeros(int(off * rate))]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.concatenate(parts) * 32767).astype("<i2").tobytes())
    return path


def with_microphone(config: Path, faults: list[str]) -> None:
    """The agent's simulated microphone on, hearing its card through PATH with these faults."""
    settings = config_file.load(config)
    audio = settings.audio.model_copy(update={"mic": "simulated"})
    config_file.save(settings.model_copy(update={"audio": audio}), config)
    card = settings.data_dir / "card"
    card.mkdir(parents=True, exist_ok=True)
    (card / "acoustic.json").write_text(json.dumps({**PATH, "faults": faults}))


def heard_of(fleet: Fleet, device_id: str, occurrence: str) -> dict[str, Any] | None:
    checks = [e["data"] for e in receipts(fleet, device_id, "heard") if e["data"]["occurrence"] == occurrence]
    return checks[0] if checks else None


def open_incidents(fleet: Fleet) -> dict[str, str]:
    """Device id -> kind of every open incident."""
    found = fleet.http.get("/api/v1/notifications/incidents", params={"open": "true"}).json()
    return {incident["subject"]: incident["kind"] for incident in found}


def test_a_bulletin_heard_at_three_clusters_and_not_at_a_dead_one(fleet: Fleet, controller: ControllerProcess,
                                                                  open_page: Any, tmp_path: Path) -> None:
    commune_id, (village,) = new_commune(fleet, villages=1)
    faults = {"healthy": [], "dead": ["amplifier_dead"], "cut": ["horn_cut"], "other": ["other_audio"]}
    devices: dict[str, str] = {}
    for name, broken in faults.items():
        device_id, config = fleet.enrolled_agent(area=village)
        with_microphone(config, broken)
        fleet.start(config)
        devices[name] = device_id
    deaf_id, deaf_config = fleet.enrolled_agent(area=village)  # no microphone
    fleet.start(deaf_config)
    for device_id in [*devices.values(), deaf_id]:
        wait_for(lambda d=device_id: fleet.online(d), 15.0, what=f"{device_id} online")
    sha, size = upload_media(fleet, bulletin_wav(tmp_path / "ban-tin.wav"))
    occurrence = schedule(fleet, area_id=village, level="normal", start_ms=int(time.time() * 1000) + 6000,
                          duration_ms=int(sum(on + off for on, off in BURSTS) * 1000),
                          source={"type": "media", "sha256": sha, "size": size})

    verdicts = {name: wait_for(lambda d=device_id: heard_of(fleet, d, occurrence), 40.0, what=f"{name} heard")
                for name, device_id in devices.items()}
    assert verdicts["healthy"]["heard"] == "yes", verdicts["healthy"]
    assert verdicts["healthy"]["delay_ms"] == pytest.approx(PATH["delay_ms"], abs=15)
    assert (verdicts["dead"]["heard"], verdicts["dead"]["reason"]) == ("no", "silent"), verdicts["dead"]
    assert verdicts["cut"]["heard"] == "yes", verdicts["cut"]
    assert verdicts["healthy"]["level_db"] - verdicts["cut"]["level_db"] == pytest.approx(6, abs=1.0)
    other = verdicts["other"]
    assert (other["heard"], other["reason"]) == ("no", "other_sound"), other

    completed = wait_for(lambda: [e["data"] for e in receipts(fleet, deaf_id, "completed")
                                  if e["data"]["occurrence"] == occurrence], 20.0, what="completed")
    assert completed[0]["heard"] == "unknown", "without a microphone a play cannot be said heard"
    assert not heard_of(fleet, deaf_id, occurrence)
    incidents = wait_for(lambda: open_incidents(fleet).get(devices["other"]) and open_incidents(fleet), 10.0,
                         what="incidents")
    assert incidents.get(devices["dead"]) == "amplifier_silent"
    assert incidents.get(devices["other"]) == "wrong_audio"
    assert devices["healthy"] not in incidents and devices["cut"] not in incidents
    assert math.isfinite(verdicts["healthy"]["noise_dbfs"])
    report = fleet.http.get("/api/v1/reports/plays", params={"area_id": village}).json()
    assert report["heard"] == {"completed": 5, "yes": 2, "no": 2, "unknown": 1, "pending": 0}, report["heard"]
    heard_column = {row["device_id"]: row["heard"] for row in report["plays"]
                    if row["occurrence_id"] == occurrence}
    assert heard_column == {devices["healthy"]: "yes", devices["dead"]: "no", devices["cut"]: "yes",
                            devices["other"]: "no", deaf_id: "unknown"}

    page, _ = open_page(390, 740)
    page.goto(f"{controller.url}/d/{devices['dead']}")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.press("input[name=password]", "Enter")
    page.locator("dl.facts").wait_for(timeout=10_000)
    assert fact(page, "Nghe ở loa").startswith("Âm ly hoặc loa: không đo được tiếng từ "), \
        fact(page, "Nghe ở loa")
    page.goto(f"{controller.url}/d/{devices['healthy']}")
    page.locator("dl.facts").wait_for(timeout=10_000)
    assert fact(page, "Nghe ở loa").startswith("nghe rõ lần phát lúc "), fact(page, "Nghe ở loa")
    assert accessibility_violations(page) == []

    board, _ = open_page()
    board.goto(f"{controller.url}/console/")
    log_in(board, operator_of(fleet, commune_id), OPERATOR_PASSWORD)
    count = {state: board.locator(f".count.{state} strong") for state in ("online", "offline", "not_heard")}
    wait_for(lambda: count["online"].inner_text() == "5", 10.0, what="the five clusters online")
    assert (count["not_heard"].inner_text(), count["offline"].inner_text()) == ("2", "0")
    dead_dot = board.locator(f"[data-device='{devices['dead']}']")
    assert dead_dot.get_attribute("fill") == "#92400e", "the map marks it apart from online and offline"
    assert board.locator(f"[data-device='{devices['healthy']}']").get_attribute("fill") == "#15803d"
