"""Device events kept on disk until the controller acknowledges them.

Each event is numbered within the install id, signed with the device's key and written
durably (one file per event, written atomically) before it is sent; it is sent again after
every reconnect until its acknowledgement arrives. A long backlog (a board offline for weeks) goes
SENT_AT_ONCE at a time, oldest first, so that it never looks like a flood to the controller.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from loalang_protocol import envelope, topics
from loalang_protocol.envelope import Counter
from loalang_protocol.files import write_atomic
from loalang_protocol.keys import KeyPair
from loalang_protocol.messages import DeviceEvent
from loalang_protocol.topics import DeviceTopic

from .state import AgentState
from .storage import read_json, write_json

log = logging.getLogger(__name__)

EVENT_TTL_S = 365 * 86400  # receipts are evidence; their signature stays checkable for a year
SENT_AT_ONCE = 200  # a backlog goes in parts, well under the controller's limit per device (500 at once)
Publisher = Callable[[str, bytes], Awaitable[None]]


class Outbox:
    """Numbers, signs, stores and sends device events."""

    def __init__(self, folder: Path, device_id: str, key: KeyPair, state: AgentState) -> None:
        self.folder = folder
        self.device_id = device_id
        self.key = key
        self.state = state
        self.topic = topics.device(device_id, DeviceTopic.EVENT)
        folder.mkdir(parents=True, exist_ok=True)
        self._counter = folder / "counter"  # no .json: not an event
        saved = read_json(self._counter, {})
        self.seq = int(saved.get("seq", 0)) if saved.get("install_id") == state.install_id else 0
        # An event written just before a power cut, before its counter: the file tells.
        self.seq = max([self.seq, *(self._seq_of(path) for path in self.pending())])

    def _seq_of(self, path: Path) -> int:
        try:
            return int(path.stem.rsplit("-", 1)[1]) if path.stem.startswith(self.state.install_id) else 0
        except (IndexError, ValueError):
            return 0

    def _path(self, seq: int) -> Path:
        return self.folder / f"{self.state.install_id}-{seq:012d}.json"

    def record(self, event_type: str, data: dict[str, Any]) -> int:
        """Write a new event durably; returns its sequence number (blocking: call it off the loop)."""
        seq = self.seq + 1
        event = DeviceEvent(install_id=self.state.install_id, seq=seq, type=event_type,
                            ts=int(time.time() * 1000), data=data)
        payload = envelope.seal(self.topic, event.model_dump(), self.key, Counter(0, seq), EVENT_TTL_S)
        write_atomic(self._path(seq), payload)  # the event first: until its counter is saved, it tells
        write_json(self._counter, {"install_id": self.state.install_id, "seq": seq})
        self.seq = seq
        return seq

    def pending(self) -> list[Path]:
        """Unacknowledged events, oldest first."""
        return sorted(self.folder.glob("*.json"))

    async def flush(self, publish: Publisher, older_than_s: float = 0.0, at_most: int = SENT_AT_ONCE) -> int:
        """Send the oldest pending events (written at least older_than_s ago), at most at_most of them;
        returns how many were sent. The rest go at the next resend."""
        sent = 0
        cutoff = time.time() - older_than_s
        for path in self.pending():
            if sent >= at_most:
                break
            if older_than_s and _written_at(path) > cutoff:
                continue
            try:
                payload = path.read_bytes()
            except FileNotFoundError:
                continue  # acknowledged meanwhile
            await publish(self.topic, payload)
            sent += 1
        return sent

    def acknowledge(self, install_id: str, seqs: list[int]) -> None:
        """Forget events the controller has stored."""
        if install_id != self.state.install_id:
            return
        for seq in seqs:
            self._path(seq).unlink(missing_ok=True)


def _written_at(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")  # acknowledged meanwhile
