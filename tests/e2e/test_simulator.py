"""The simulator that stands for a province: receivers over several processes, the null sound card
and no decoder for most, real decoding for a sample; enrolled and playing through the real stack."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from loalang_stack.process import Server
from loalang_stack.services import ControllerProcess
from receiver_agent.simulate import Registrar, prepare_receivers
from tests.testkit import (
    ADMIN_PASSWORD,
    Fleet,
    new_commune,
    receipts,
    tone_onset,
    upload_media,
    wait_for,
    write_steps_wav,
)

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
COUNT = 6
DECODE_EVERY = 3  # receivers 1 and 4 decode onto the simulated card


def workers(pid: int) -> list[int]:
    """The simulator's worker processes (its children running receivers), from /proc."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()
                  if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()]
    return found


def test_a_simulated_fleet_in_two_processes_starts_at_the_instant_and_decodes_a_sample(
        fleet: Fleet, controller: ControllerProcess, tmp_path: Path) -> None:
    commune_id, [village] = new_commune(fleet, villages=1)
    prefix = f"mo-{village[-6:]}"
    simulator = Server("simulator", [
        str(BIN / "receiver-agent"), "simulate", "--count", str(COUNT), "--controller", controller.url,
        "--data-dir", str(tmp_path / "sim"), "--area", village, "--prefix", prefix, "--processes", "2",
        "--null-audio", "--decode-every", str(DECODE_EVERY),
    ], tmp_path / "simulator.log", {**os.environ, "LOALANG_SIM_ADMIN_PASSWORD": ADMIN_PASSWORD})
    simulator.start()
    try:
        ids = [f"{prefix}-{n}" for n in range(1, COUNT + 1)]
        def all_online() -> bool:
            listed = fleet.http.get("/api/v1/devices", params={"q": prefix}).json()
            return sorted(d["id"] for d in listed if d["online"]) == sorted(ids)

        wait_for(all_online, 90.0, interval=0.5, what="the simulated fleet online")
        assert simulator.process is not None and len(workers(simulator.process.pid)) == 2, "two processes"
        sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "tin.wav", [440.0] * 2))
        created = fleet.http.post("/api/v1/broadcasts", json={
            "level": "normal", "media_sha256": sha, "title": "Mô phỏng", "area_ids": [commune_id]})
        assert created.status_code == 201, created.text
        start_s = created.json()["start_ms"] / 1000

        for device_id in ids:
            wait_for(lambda d=device_id: receipts(fleet, d, "completed"), 30.0, what=f"{device_id} completed")
            [started] = receipts(fleet, device_id, "started")
            # the suite's bound for a start, which catches a receiver that does not aim at the instant;
            # the 20 ms goal is measured on a quiet machine (benchmarks/check.py): 57 ms was seen here
            # under a load average of 10
            assert abs(started["data"]["late_ms"]) < 250, started["data"]
            card = tmp_path / "sim" / device_id / "card"
            if (int(device_id.rsplit("-", 1)[1]) - 1) % DECODE_EVERY == 0:
                onset = tone_onset(card, 440)
                assert onset is not None and abs(onset - start_s) < 0.25, f"{device_id} decodes: {onset}"
            else:
                assert not (card / "card.wav").exists(), f"{device_id} sounds nothing"
        assert time.time() - start_s > 1.9, "the null card kept the item's length"
    finally:
        simulator.stop(timeout=20)


def test_a_run_interrupted_between_registering_and_enrolling_is_taken_up_again(
        fleet: Fleet, controller: ControllerProcess, tmp_path: Path) -> None:
    """A receiver the controller registered but that never got its configuration (the run was stopped
    in between) gets a new claim code on the next run, instead of the whole run failing."""
    prefix = f"cut{time.monotonic_ns() % 100_000}"
    registered = fleet.http.post("/api/v1/devices", json={"id": f"{prefix}-2", "name": "left over",
                                                          "area_id": "thon-a"})
    assert registered.status_code == 201, registered.text
    registrar = Registrar(controller.url, "admin", ADMIN_PASSWORD)
    paths = prepare_receivers(tmp_path / "sim", 2, ["thon-a"], registrar, controller.url, prefix=prefix,
                              allow_plain_http=True)
    assert all(path.exists() for path in paths)
    assert fleet.device(f"{prefix}-2")["enrolled"], "the left-over device is enrolled now"
