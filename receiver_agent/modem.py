"""The board's mobile modem, through ModemManager's command line (`mmcli`).

A modem reports no signal strength until it is told to poll it: the first time a modem is seen (and
again when another one appears) the agent asks it to measure every SIGNAL_REFRESH_S seconds
(`mmcli --signal-setup`). Then each telemetry round reads the modem's state, operator, access
technology and SIM, and the signal of the best technology measured. No modem, no ModemManager or an
answer that cannot be read gives None: telemetry just leaves the fields out.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

SIGNAL_REFRESH_S = 30
TIMEOUT_S = 5
TECHNOLOGIES = ("5g", "lte", "umts", "gsm")  # best first
UNKNOWN = "--"  # mmcli's word for a value it does not have


@dataclass(frozen=True)
class ModemStatus:
    """What the modem says, in telemetry's terms."""

    signal_dbm: float | None  # RSSI of the best technology measured (RSRP on 5G)
    operator: str | None
    technology: str | None  # lte, umts, gsm, 5gnr...
    sim: str  # ready, missing, locked, unknown


class Modem:
    """One board's modem, asked through mmcli."""

    def __init__(self, mmcli: str | None = None, run: Callable[..., Any] = subprocess.run) -> None:
        self.mmcli = mmcli if mmcli is not None else shutil.which("mmcli")
        self._run = run
        self._polling: str | None = None  # the D-Bus path of the modem told to measure its signal

    def status(self) -> ModemStatus | None:
        """The modem's state now, or None without a modem to ask (blocking, up to a few seconds)."""
        if self.mmcli is None:
            return None
        modem = self._json("-m", "any").get("modem")
        if not isinstance(modem, dict):
            return None
        self._ensure_polling(str(modem.get("dbus-path", "")))
        signal = self._json("-m", "any", "--signal-get").get("modem", {}).get("signal", {})
        generic, gpp = modem.get("generic", {}), modem.get("3gpp", {})
        technologies = generic.get("access-technologies") or []
        return ModemStatus(
            signal_dbm=_signal_dbm(signal if isinstance(signal, dict) else {}),
            operator=_known(gpp.get("operator-name")),
            technology=_known(technologies[0]) if isinstance(technologies, list) and technologies else None,
            sim=_sim_state(generic),
        )

    def _ensure_polling(self, path: str) -> None:
        if not path or path == self._polling:
            return
        if self._call("-m", "any", f"--signal-setup={SIGNAL_REFRESH_S}") is not None:
            self._polling = path
            log.info("modem %s: signal measured every %s s", path.rsplit("/", 1)[-1], SIGNAL_REFRESH_S)

    def _json(self, *arguments: str) -> dict[str, Any]:
        out = self._call(*arguments, "--output-json")
        try:
            value = json.loads(out) if out else {}
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def _call(self, *arguments: str) -> str | None:
        assert self.mmcli is not None
        try:
            done = self._run([self.mmcli, *arguments], capture_output=True, text=True, timeout=TIMEOUT_S)
        except (subprocess.SubprocessError, OSError):
            return None
        return str(done.stdout) if done.returncode == 0 else None


def _signal_dbm(signal: dict[str, Any]) -> float | None:
    for technology in TECHNOLOGIES:
        values = signal.get(technology)
        if not isinstance(values, dict):
            continue
        for name in ("rssi", "rsrp"):
            number = _number(values.get(name))
            if number is not None:
                return number
    return None


def _sim_state(generic: dict[str, Any]) -> str:
    if generic.get("state-failed-reason") == "sim-missing" or generic.get("sim") in (None, UNKNOWN, "/"):
        return "missing"
    lock = _known(generic.get("unlock-required"))
    if lock not in (None, "sim-pin2", "none") or generic.get("state") == "locked":
        return "locked"
    if generic.get("state") in ("failed", "unknown"):
        return "unknown"
    return "ready"


def _known(value: Any) -> str | None:
    return None if value in (None, "", UNKNOWN) else str(value)[:60]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if -200 <= number <= 0 else None
