"""The board's modem through ModemManager's command line: the signal is polled once set up, and the
state, operator, technology and SIM are read as mmcli prints them (tests/mmcli)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from receiver_agent.modem import SIGNAL_REFRESH_S, Modem
from tests.testkit import modem_stub

pytestmark = pytest.mark.unit

TRANSCRIPT = Path(__file__).resolve().parents[2] / "mmcli"


def _modem(tmp_path: Path, signal_dbm: int = -71) -> tuple[Modem, Path]:
    folder = tmp_path / "mmcli"
    modem_stub(folder, signal_dbm)
    return Modem(mmcli=str(folder / "mmcli")), folder / "calls.log"


def test_the_signal_is_set_up_once_then_read_with_the_modem_state(tmp_path: Path) -> None:
    modem, calls = _modem(tmp_path)
    first = modem.status()
    assert first is not None
    assert (first.signal_dbm, first.operator, first.technology) == (-71.0, "Viettel", "lte")
    assert first.sim == "ready"
    modem.status()
    asked = calls.read_text().splitlines()
    setups = [c for c in asked if "--signal-setup" in c]
    assert setups == [f"-m any --signal-setup={SIGNAL_REFRESH_S}"], "told once to poll the signal"
    assert asked.index(setups[0]) < next(i for i, c in enumerate(asked) if "--signal-get" in c), \
        "set up before the first reading: a modem reports nothing until then"


def test_without_setup_a_modem_reports_no_signal(tmp_path: Path) -> None:
    """What the agent got before: every reading `--`."""
    folder = tmp_path / "raw"
    modem_stub(folder, -71)
    out = subprocess.run([str(folder / "mmcli"), "-m", "any", "--signal-get", "--output-json"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["modem"]["signal"]["lte"]["rssi"] == "--"


@pytest.mark.parametrize(("generic", "sim"), [
    ({"sim": "--", "state": "failed", "state-failed-reason": "sim-missing"}, "missing"),
    ({"sim": "/org/freedesktop/ModemManager1/SIM/0", "state": "locked", "unlock-required": "sim-pin"},
     "locked"),
    ({"sim": "/org/freedesktop/ModemManager1/SIM/0", "state": "registered", "unlock-required": "--"},
     "ready"),
])
def test_the_sim_state_is_named(tmp_path: Path, generic: dict, sim: str) -> None:
    answer = json.loads((TRANSCRIPT / "modem.json").read_text())
    answer["modem"]["generic"].update(generic)

    def run(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        out = json.dumps(answer) if command[-1] == "--output-json" and "--signal-get" not in command else "{}"
        return subprocess.CompletedProcess(command, 0, out, "")

    status = Modem(mmcli="mmcli", run=run).status()
    assert status is not None and status.sim == sim


@pytest.mark.parametrize("answer", ["", "not json", "[]", '{"modem": "x"}', '{"other": {}}'])
def test_no_modem_or_an_unreadable_answer_leaves_the_fields_out(answer: str) -> None:
    def run(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 0, answer, "")

    assert Modem(mmcli="mmcli", run=run).status() is None


def test_mmcli_failing_or_absent_leaves_the_fields_out() -> None:
    def failing(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 1, "", "error: couldn't find modem")

    def hanging(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(command, 5)

    assert Modem(mmcli="mmcli", run=failing).status() is None
    assert Modem(mmcli="mmcli", run=hanging).status() is None


def test_a_board_without_modemmanager_reports_no_modem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("receiver_agent.modem.shutil.which", lambda name: None)
    assert Modem().status() is None
