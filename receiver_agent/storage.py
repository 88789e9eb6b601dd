"""Atomic, durable small files: write to a temporary file, fsync, rename."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from loalang_protocol.files import write_atomic


def read_json(path: Path, default: Any) -> Any:
    """Read a JSON file written by write_json, or default when it is missing or damaged."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return default


def write_json(path: Path, value: Any, durable: bool = True) -> None:
    """Write value as JSON atomically (and durably unless told otherwise)."""
    write_atomic(path, json.dumps(value, sort_keys=True).encode(), durable=durable)


class BackgroundWriter:
    """Writes files atomically and durably on one thread; the newest content of a file wins.

    The event loop hands over bytes and goes on, so an fsync that takes long on a busy SD card
    never stalls the audio or the MQTT keepalive. flush() waits for everything handed over.
    """

    def __init__(self) -> None:
        self._pending: dict[Path, bytes] = {}
        self._busy = 0
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, path: Path, data: bytes) -> None:
        """Write data to path soon."""
        with self._condition:
            self._pending[path] = data
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="durable-writer", daemon=True)
                self._thread.start()
            self._condition.notify_all()

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything submitted so far is on disk."""
        with self._condition:
            self._condition.wait_for(lambda: not self._pending and not self._busy, timeout)

    def _run(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: bool(self._pending))
                path, data = self._pending.popitem()
                self._busy += 1
            try:
                write_atomic(path, data)
            except OSError as exc:
                logging.getLogger(__name__).error("cannot write %s: %s", path, exc)
            finally:
                with self._condition:
                    self._busy -= 1
                    self._condition.notify_all()


WRITER = BackgroundWriter()


def write_json_soon(path: Path, value: Any) -> None:
    """Write value as JSON durably, from the background writer."""
    WRITER.submit(path, json.dumps(value, sort_keys=True).encode())
