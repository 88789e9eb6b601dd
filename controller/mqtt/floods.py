"""Devices that send more than any sound board does, told to operators once per window.

The inbox sheds a device's excess as it arrives (loalang_protocol/inbox.py: births, events,
replies, reports, telemetry and clock requests each have a per-device limit) and names each shed
message here. A flood is told at most once per REPORT_WINDOW_S per device, with what was shed since
it was last told: a warning in the log, a `device.flood` entry in the audit log (actor `system`,
like the data-budget warning) and a `security` event on the feed of the device's area. A device
whose broker password was stolen shows up there; its flood costs the rest of the fleet nothing.
Memory is bounded: at most TRACKED_MAX devices wait to be told, and those told are forgotten once
their window is over.
"""

from __future__ import annotations

import asyncio
import logging
import time

from .. import audit, feed
from ..context import Services
from ..db.models import Device

log = logging.getLogger(__name__)

REPORT_WINDOW_S = 60.0
TELL_EVERY_S = 1.0
TRACKED_MAX = 10_000


class FloodWatch:
    """What the inbox shed for each device's own excess, told once per window."""

    def __init__(self, services: Services, window_s: float = REPORT_WINDOW_S) -> None:
        self.services = services
        self.window_s = window_s
        self._shed: dict[str, dict[str, int]] = {}  # device -> class -> shed since it was told
        self._told: dict[str, float] = {}  # device -> when last told (monotonic)

    def note(self, device_id: str, kind: str) -> None:
        """One message of kind shed for the device's excess (called by the inbox; never blocks)."""
        counts = self._shed.get(device_id)
        if counts is None:
            if len(self._shed) >= TRACKED_MAX:
                self.services.counters.add("flood.untracked")
                return
            counts = self._shed[device_id] = {}
        counts[kind] = counts.get(kind, 0) + 1

    async def run(self) -> None:
        """Tell the floods that are due every TELL_EVERY_S, until cancelled."""
        while True:
            await asyncio.sleep(TELL_EVERY_S)
            try:
                await self.tell_due(time.monotonic())
            except Exception:  # told at the next round: what was shed stays counted
                log.exception("floods not told; next time")

    async def tell_due(self, now: float) -> dict[str, dict[str, int]]:
        """Tell the devices that flooded and were not told within the window; returns them."""
        self._told = {d: t for d, t in self._told.items() if now - t < self.window_s}
        due = {d: c for d, c in self._shed.items() if d not in self._told}
        if not due:
            return due
        known = await asyncio.to_thread(self._record, due)
        for device_id in due:
            del self._shed[device_id]
            self._told[device_id] = now
        await feed.publish_many(self.services.redis, [
            ("security", [area_id], {"device_id": device_id, "device_name": name, "reason": "flood",
                                     "shed": due[device_id]})
            for device_id, (area_id, name) in known.items()])
        return due

    def _record(self, due: dict[str, dict[str, int]]) -> dict[str, tuple[str, str]]:
        """Log and audit each flood of a known device; returns the known devices' area and name."""
        with self.services.db.session() as session:
            rows = session.query(Device).filter(Device.id.in_(list(due)))
            known = {device.id: (device.area_id, device.name) for device in rows}
            for device_id, shed in due.items():
                log.warning("device %s: flooding, %s messages shed over its limits (%s)", device_id,
                            sum(shed.values()), ", ".join(f"{k} {n}" for k, n in sorted(shed.items())))
                if device_id in known:
                    audit.record(session, "system", "device.flood", [device_id], shed=shed,
                                 window_s=self.window_s)
        return known
