"""Install a signed release beside the running one and hand the board to the launcher to try it.

The release is downloaded with the device's signed request (resumed, hash-checked: the media cache's
path), verified against the root key and the revocation list the agent holds, unpacked, and
installed into `releases/<version>/venv` from its own wheels only (no index, no network). Only a
complete installation is marked `installed`; then the update state says `trial` and `current` points
at the new release, and the agent exits so that systemd starts it again through the launcher
(launcher.py), which returns to the previous release if the new one does not prove healthy.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from loalang_protocol.files import write_atomic
from loalang_protocol.messages import ReleaseOffer
from loalang_protocol.releases import ReleaseRefused, VerifiedRelease, extract_wheels, verify

from ..media.cache import DownloadError, MediaCache
from . import launcher

log = logging.getLogger(__name__)

INSTALL_TIMEOUT_S = 900.0
INSTALLED = "installed"  # in a release's folder once its installation is complete


class UpdateFailed(RuntimeError):
    """A release was not installed; reason is a stable code for the device's event."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def install_root() -> Path | None:
    """The board's install folder when this agent runs from a release (<root>/releases/<v>/venv),
    else None (a development checkout or the simulator: nothing to update)."""
    venv = Path(sys.prefix)
    if venv.name == "venv" and venv.parent.parent.name == launcher.RELEASES:
        return venv.parent.parent.parent
    return None


@dataclass(frozen=True)
class Prepared:
    """A downloaded release whose signature and files were checked."""

    path: Path
    release: VerifiedRelease


@dataclass
class Installer:
    """Installs the releases the controller offers, on one board."""

    root: Path
    downloads: MediaCache  # its url_prefix is /releases
    root_public: Ed25519PublicKey
    revoked: Callable[[], frozenset[str]]  # the key ids the agent's revocation list names
    running: str  # this agent's version

    def prepare(self, offer: ReleaseOffer) -> Prepared:
        """Download, verify and install the offered release beside the running one (blocking; at any
        time, even while playing: only the restart into it waits for a quiet moment)."""
        try:
            path = self.downloads.fetch(offer.sha256, offer.size, set())
        except DownloadError as exc:
            raise UpdateFailed("download_failed", str(exc)) from None
        try:
            release = verify(path, self.root_public, self.revoked())
        except ReleaseRefused as exc:
            path.unlink(missing_ok=True)
            raise UpdateFailed(f"refused_{exc.reason}", exc.detail) from None
        if release.manifest.version != offer.version:
            raise UpdateFailed("refused_version", f"the file is release {release.manifest.version}, "
                                                  f"not {offer.version}")
        self._install_files(path, release)
        return Prepared(path, release)

    def put_on_trial(self, prepared: Prepared, offer: ReleaseOffer) -> None:
        """Make an installed release the one the next start tries (at a quiet moment: a restart)."""
        launcher.write_state(self.root, {"state": "trial", "version": offer.version, "previous": self.running,
                                         "gate_s": offer.gate_s, "starts": 0, "at": int(time.time())})
        launcher.switch_to(self.root, offer.version)
        log.info("release %s installed; %s is kept to return to", offer.version, self.running)

    def _install_files(self, path: Path, release: VerifiedRelease) -> None:
        """Install into releases/<version>; the mark that it is complete is written last, so a folder
        without it (a power cut, a failed install) is removed and made again."""
        version = release.manifest.version
        target = self.root / launcher.RELEASES / version
        if (target / INSTALLED).exists():
            return
        shutil.rmtree(target, ignore_errors=True)
        scratch = self.root / launcher.RELEASES / f".tmp-{version}"  # pip's; the unit's /tmp may be read-only
        try:
            scratch.mkdir(parents=True, exist_ok=True)
            wheels = extract_wheels(path, release, target / "wheels")
            # with the system's packages, as the first install: gpiozero and lgpio come from Debian
            _run([sys.executable, "-m", "venv", "--system-site-packages", str(target / "venv")],
                 "venv_failed", {"TMPDIR": str(scratch)})
            _run([str(target / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index",
                  "--no-cache-dir", "--find-links", str(wheels[0].parent), release.manifest.requirement],
                 "install_failed", {"TMPDIR": str(scratch)})
            shutil.rmtree(target / "wheels")
            os.sync()
            write_atomic(target / INSTALLED, f"{version}\n".encode(), mode=0o644)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def forget_old_releases(self) -> None:
        """Keep the running release and the one before it; remove the others and their downloads."""
        keep = {self.running, str(launcher.read_state(self.root).get("previous", ""))}
        for folder in (self.root / launcher.RELEASES).iterdir():
            if folder.name not in keep and not folder.name.startswith("."):
                shutil.rmtree(folder, ignore_errors=True)
                log.info("release %s removed", folder.name)
        for download in self.downloads.folder.iterdir():
            download.unlink(missing_ok=True)


def _run(command: list[str], reason: str, env: dict[str, str] | None = None) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
                              env={**os.environ, **(env or {})})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UpdateFailed(reason, str(exc)[:300]) from None
    if done.returncode != 0:
        raise UpdateFailed(reason, (done.stderr.strip().splitlines() or ["no output"])[-1][:300])

