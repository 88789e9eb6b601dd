"""Over the air, end to end: boards laid out from a signed release run the board's own unit under the
real systemd; a new release is rolled out in stages over the real controller and broker while the
commune's schedule plays on; broken releases halt their rollout after its first stage and their board
returns to the release it ran, by itself.

Every board's agent runs from its release folder through the launcher (receiver_agent/updates), as
installed by install-receiver.sh; the releases are this project built at other versions (and, for the
broken ones, with a fault put in on purpose)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loalang_protocol.keys import PURPOSE_RELEASE, KeyPair, issue_certificate
from loalang_stack import release_build
from loalang_stack.systemd_box import SystemdBox
from receiver_agent import config as config_file
from tests.testkit import Fleet, new_commune, receipts, schedule, tone_onset, wait_for

pytestmark = pytest.mark.e2e

QUIET_GAP_S = 15  # a board restarts into a release only when nothing is due this soon
GATE_S = 30
OCTETS = "application/octet-stream"
TONES = (500.0, 700.0, 900.0)  # one scheduled item each, before, during and after the update


@dataclass
class Board:
    device_id: str
    config: Path
    root: Path
    unit: str

    @property
    def card(self) -> Path:
        return config_file.load(self.config).data_dir / "card"


def _exits_at_start(source: Path) -> None:
    cli = source / "receiver_agent" / "cli.py"
    text = cli.read_text()
    marker = "def cmd_run(args: argparse.Namespace) -> int:\n"
    assert marker in text
    broken = marker + "    raise SystemExit('broken on purpose: exits at start')\n"
    cli.write_text(text.replace(marker, broken))


def _never_connects(source: Path) -> None:
    agent = source / "receiver_agent" / "agent.py"
    text = agent.read_text()
    broken = text.replace("host=b.host, port=b.port,", "host=b.host, port=1,").replace(
        "addresses=tuple(b.broker_addresses()),", "addresses=(),")
    assert broken != text
    agent.write_text(broken)




def _releases(fleet: Fleet, folder: Path) -> dict[str, Path]:
    keys = fleet.controller.data_dir / "keys"
    root = KeyPair.load(keys / "root.key")
    key = KeyPair.generate()
    cert = issue_certificate(root, key.public_bytes, PURPOSE_RELEASE, 3600)
    built = {}
    changes: dict[str, Callable[[Path], None] | None] = {
        "1.0.0": None, "2.0.0": None, "3.0.0": _exits_at_start, "3.0.1": _never_connects}
    for version, change in changes.items():
        built[version] = folder / f"agent-{version}.release"
        release_build.build_release(version, f"release {version}", key, cert, built[version], change=change)
    return built


def _upload(fleet: Fleet, path: Path) -> None:
    with path.open("rb") as source:
        answer = fleet.http.post("/api/v1/releases", files={"file": (path.name, source, OCTETS)})
    assert answer.status_code == 201, answer.text


def _board(fleet: Fleet, box: SystemdBox, area: str, release: Path, number: int, tmp_path: Path) -> Board:
    device_id, config = fleet.enrolled_agent(area=area)
    settings = config_file.load(config)
    config_file.save(settings.model_copy(update={"update_quiet_gap_s": QUIET_GAP_S}), config)
    root = tmp_path / f"board-{number}"
    root_public = KeyPair.load(fleet.controller.data_dir / "keys" / "root.key").private.public_key()
    release_build.install_board(root, release, root_public)
    unit = f"loalang-agent-{number}.service"
    box.add_unit(unit, release_build.board_unit(root, config, config.parent / "agent.log", watchdog_s=30))
    return Board(device_id, config, root, unit)


def _version(fleet: Fleet, board: Board) -> str | None:
    device = fleet.device(board.device_id)
    return str(device["presence"]["agent_version"]) if device["online"] else None


def _rollout(fleet: Fleet, **body: Any) -> dict[str, Any]:
    answer = fleet.http.post("/api/v1/rollouts", json={"gate_s": GATE_S, **body})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _ended(fleet: Fleet, rollout: dict[str, Any], timeout: float) -> dict[str, Any]:
    def state() -> dict[str, Any] | None:
        found: dict[str, Any] = fleet.http.get(f"/api/v1/rollouts/{rollout['id']}").json()
        return found if found["state"] in ("completed", "halted") else None
    return wait_for(state, timeout, interval=1.0, what=f"rollout of {rollout['release']} to end")


def test_a_release_rolls_out_in_stages_and_broken_ones_halt_and_return(fleet: Fleet, box: SystemdBox,
                                                                        tmp_path: Path) -> None:
    releases = _releases(fleet, tmp_path)
    for version in ("2.0.0", "3.0.0", "3.0.1"):
        _upload(fleet, releases[version])
    commune, (village_a, village_b) = new_commune(fleet, villages=2)
    boards = [_board(fleet, box, area, releases["1.0.0"], n, tmp_path)
              for n, area in enumerate([village_a, village_b, village_b])]
    box.start([board.unit for board in boards])
    for board in boards:
        wait_for(lambda b=board: _version(fleet, b) == "1.0.0", 90.0, interval=0.5,
                 what=f"{board.device_id} online on 1.0.0")

    # the commune's schedule: one item before the update, one while boards wait to restart, one after
    start = time.time() + 25
    items = [schedule(fleet, area_id=commune, level="normal", start_ms=int((start + 50 * i) * 1000),
                      duration_ms=2000, source={"type": "tone", "frequency_hz": hz})
             for i, hz in enumerate(TONES)]

    # 2.0.0 to one village, then to the commune
    village = _ended(fleet, _rollout(fleet, release="2.0.0", areas=[village_a], stages=["100%"]), 240)
    assert village["state"] == "completed", village
    assert _version(fleet, boards[0]) == "2.0.0" and _version(fleet, boards[1]) == "1.0.0"
    whole = _ended(fleet, _rollout(fleet, release="2.0.0", areas=[commune], stages=[1, "100%"]), 300)
    assert whole["state"] == "completed", whole
    for board in boards:
        wait_for(lambda b=board: _version(fleet, b) == "2.0.0", 30.0, what=f"{board.device_id} on 2.0.0")

    # the schedule played through the update, on every board
    last_end = start + 50 * (len(TONES) - 1) + 6
    wait_for(lambda: time.time() > last_end, 200.0, interval=1.0, what="the last item")
    for board in boards:
        for occurrence, hz in zip(items, TONES, strict=True):
            assert tone_onset(board.card, hz) is not None, f"{board.device_id} missed the {hz:.0f} Hz item"
            done = [r for r in receipts(fleet, board.device_id) if r["data"].get("occurrence") == occurrence]
            assert any(r["type"] == "completed" for r in done), (board.device_id, hz, done)

    # 3.0.0 exits at start: its first stage fails, the rollout halts, the board returns to 2.0.0 alone
    crashing = _ended(fleet, _rollout(fleet, release="3.0.0", areas=[commune], stages=[1, "100%"]), 240)
    _check_halted(fleet, boards, crashing, "3.0.0")
    # 3.0.1 starts but never connects: the launcher gives up on it at the gate
    silent = _ended(fleet, _rollout(fleet, release="3.0.1", areas=[commune], stages=[1, "100%"]), 300)
    reason = _check_halted(fleet, boards, silent, "3.0.1")
    assert f"not healthy within {GATE_S} s" in reason


def _check_halted(fleet: Fleet, boards: list[Board], rollout: dict[str, Any], version: str) -> str:
    assert rollout["state"] == "halted", rollout
    first = [d for d in rollout["devices"] if d["stage"] == 1]
    assert len(first) == 1 and first[0]["state"] == "failed", rollout["devices"]
    later = [d for d in rollout["devices"] if d["stage"] == 2]
    assert all(d["state"] == "waiting" for d in later), "stage 2 was never offered"
    board = next(b for b in boards if b.device_id == first[0]["device_id"])
    wait_for(lambda: _version(fleet, board) == "2.0.0", 60.0, interval=0.5,
             what=f"{board.device_id} back on 2.0.0 after {version}")
    back = [r for r in receipts(fleet, board.device_id) if r["type"] == "update-rolled-back"
            and r["data"].get("version") == version]
    assert back and back[-1]["data"]["running"] == "2.0.0", back
    return str(back[-1]["data"]["reason"])
