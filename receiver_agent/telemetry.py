"""Reading the board's health: uptime, load, memory, disk, temperature, network and modem signal."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")


def system_uptime() -> float:
    """Seconds since the board booted."""
    try:
        return float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return time.monotonic()


def memory_used_percent() -> float | None:
    """Share of memory in use, from /proc/meminfo."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        total = int(fields["MemTotal"].split()[0])
        available = int(fields["MemAvailable"].split()[0])
    except (OSError, KeyError, ValueError):
        return None
    return round(100.0 * (total - available) / total, 1) if total else None


def disk_free_mb(path: Path) -> float | None:
    """Free space where the agent keeps its data."""
    try:
        return round(shutil.disk_usage(path).free / 1e6, 1)
    except OSError:
        return None


def cpu_temperature() -> float | None:
    """CPU temperature in °C where the board exposes it."""
    try:
        return round(int(THERMAL_ZONE.read_text()) / 1000, 1)
    except (OSError, ValueError):
        return None


def default_interface() -> str | None:
    """The network interface of the default route."""
    try:
        for line in Path("/proc/net/route").read_text().splitlines()[1:]:
            parts = line.split()
            if len(parts) > 2 and parts[1] == "00000000":
                return parts[0]
    except OSError:
        pass
    return None


def load_average() -> float | None:
    """One-minute load average."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None
