"""The agent's recent log lines kept in memory, for the upload-logs maintenance command."""

from __future__ import annotations

import logging
from collections import deque

MAX_LINES = 2000


class RecentLog(logging.Handler):
    """Keeps the last MAX_LINES formatted records."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: deque[str] = deque(maxlen=MAX_LINES)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Store one record."""
        try:
            self.lines.append(self.format(record))
        except Exception:  # a log handler must never raise
            self.handleError(record)

    def text(self, device_id: str | None = None) -> str:
        """The kept lines (only those about device_id and the process when given)."""
        kept = [line for line in self.lines if device_id is None or "device " not in line
                or f"device {device_id}:" in line]
        return "\n".join(kept) + "\n"


RECENT = RecentLog()


def install() -> None:
    """Attach the buffer to the root logger once."""
    root = logging.getLogger()
    if RECENT not in root.handlers:
        root.addHandler(RECENT)
