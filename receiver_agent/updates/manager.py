"""The agent's part in an update: take the controller's offer, install it at a quiet moment, confirm
the new release once healthy, and report a return to the previous one.

Events it records (each a signed receipt in the outbox):
`update-refused` (the offer or the release cannot be trusted: no retry for that file),
`update-failed` (download or installation failed: tried again later), `update-restarting` (installed,
on trial from the next start), `update-completed` (healthy on the new release; the gate is passed),
`update-rolled-back` (the launcher returned to the previous release, with its reason).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from loalang_protocol.messages import ReleaseOffer

from . import launcher
from .installer import Installer, UpdateFailed

log = logging.getLogger(__name__)

Record = Callable[[str, dict[str, Any]], Awaitable[None]]
LOOK_EVERY_S = 5.0
FIRST_RETRY_S = 60.0
MAX_RETRY_S = 3600.0


class Updates:
    """Offers in, installation when quiet, restart into the new release."""

    def __init__(self, installer: Installer | None, running: str, record: Record,
                 quiet_for: Callable[[float], bool], restart: Callable[[], None], quiet_gap_s: float) -> None:
        self.installer = installer
        self.running = running
        self.record = record
        self.quiet_for = quiet_for  # nothing plays, no stream, nothing due within the seconds given
        self.restart = restart
        self.quiet_gap_s = quiet_gap_s  # nothing due this soon when the agent restarts into a release
        self.offered: ReleaseOffer | None = None
        self._refused: set[str] = set()  # files (sha256) that will never be trusted
        self._wake = asyncio.Event()
        self._said_not_installed = False

    async def offer(self, raw: dict[str, Any] | None) -> None:
        """The release the device's desired state names (None: stay on the running one)."""
        if raw is None:
            self.offered = None
            return
        try:
            offer = ReleaseOffer.model_validate(raw)
        except ValidationError as exc:
            detail = str(exc.errors()[0]["msg"])
            await self.record("update-refused", {"reason": "invalid_offer", "detail": detail})
            return
        if offer.version == self.running or offer.sha256 in self._refused or self._rolled_back_from(offer):
            self.offered = None
            return
        if self.installer is None:
            if not self._said_not_installed:
                self._said_not_installed = True
                await self.record("update-refused", {"version": offer.version,
                                                     "reason": "not_installed_from_release"})
            return
        self.offered = offer
        self._wake.set()

    def _rolled_back_from(self, offer: ReleaseOffer) -> bool:
        """A release this board already returned from is not tried again (a new file of it would be
        offered under a new version)."""
        if self.installer is None:
            return False
        state = launcher.read_state(self.installer.root)
        return state.get("state") == "rolled_back" and state.get("version") == offer.version

    async def run(self) -> None:
        """Install what is offered, one release at a time; failures wait longer each time."""
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            offer = self.offered
            if offer is None or self.installer is None:
                continue
            try:
                await self._install_when_quiet(self.installer, offer)
            except UpdateFailed as exc:
                failures = min(failures + 1, 20)
                await self._failed(offer, exc)
                if not exc.reason.startswith("refused_"):
                    asyncio.get_running_loop().call_later(_retry_s(failures), self._wake.set)
                continue
            failures = 0
            await self.record("update-restarting", {"version": offer.version, "previous": self.running})
            self.restart()
            return

    async def _install_when_quiet(self, installer: Installer, offer: ReleaseOffer) -> None:
        release = await asyncio.to_thread(installer.prepare, offer)
        while not self.quiet_for(self.quiet_gap_s) or self.offered != offer:
            if self.offered != offer:
                raise UpdateFailed("offer_withdrawn", f"release {offer.version} is no longer offered")
            await asyncio.sleep(LOOK_EVERY_S)
        await asyncio.to_thread(installer.put_on_trial, release, offer)

    async def _failed(self, offer: ReleaseOffer, exc: UpdateFailed) -> None:
        if exc.reason == "offer_withdrawn":
            return
        if exc.reason.startswith("refused_"):
            self._refused.add(offer.sha256)
        log.warning("release %s not installed: %s", offer.version, exc)
        kind = "update-refused" if exc.reason.startswith("refused_") else "update-failed"
        await self.record(kind, {"version": offer.version, "reason": exc.reason.removeprefix("refused_"),
                                 "detail": exc.detail[:300]})

    async def healthy(self) -> None:
        """The agent is connected, holds its desired state and passed its self-checks: a release on
        trial is kept (the launcher stops watching), and older releases are removed."""
        if self.installer is None:
            return
        state = launcher.read_state(self.installer.root)
        if state.get("state") != "trial" or state.get("version") != self.running:
            return
        launcher.write_state(self.installer.root, {**state, "state": "confirmed"})
        log.info("release %s is healthy and kept", self.running)
        await self.record("update-completed", {"version": self.running, "previous": state.get("previous")})
        await asyncio.to_thread(self.installer.forget_old_releases)

    async def report_rollback(self) -> None:
        """Say once that the launcher returned to this release from a broken one."""
        if self.installer is None:
            return
        state = launcher.read_state(self.installer.root)
        if state.get("state") != "rolled_back" or state.get("reported"):
            return
        await self.record("update-rolled-back", {"version": state.get("version"), "running": self.running,
                                                 "reason": state.get("reason")})
        launcher.write_state(self.installer.root, {**state, "reported": True})


def _retry_s(failures: int) -> float:
    wait: float = random.uniform(0.5, 1.0) * min(MAX_RETRY_S, FIRST_RETRY_S * 2.0 ** (failures - 1))
    return wait
