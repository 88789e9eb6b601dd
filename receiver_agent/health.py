"""A small file where the running agent says how it is, for `doctor` and service health checks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .storage import read_json, write_json

FILE_NAME = "health.json"


def write(data_dir: Path, **facts: Any) -> None:
    """Record the agent's current health."""
    write_json(data_dir / FILE_NAME, {"ts": time.time(), **facts}, durable=False)


def read(data_dir: Path, max_age_s: float) -> dict[str, Any] | None:
    """The running agent's last report, or None when it is missing or stale."""
    data = read_json(data_dir / FILE_NAME, None)
    if not isinstance(data, dict) or data.get("stopped"):
        return None
    if time.time() - float(data.get("ts", 0)) > max_age_s:
        return None
    return data


def mark_stopped(data_dir: Path) -> None:
    """The agent stopped cleanly: it is not running, however fresh its last report."""
    write_json(data_dir / FILE_NAME, {"ts": time.time(), "stopped": True}, durable=False)
