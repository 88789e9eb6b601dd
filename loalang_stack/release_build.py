"""Build a signed agent release of this project, at any version, without the network.

The project's wheel is built from a copy of its packages with the version set in the copy
(`loalang_protocol.__version__`), from the wheelhouse the bootstrap fills (the agent's locked
dependencies and setuptools); the release carries that wheel and the locked dependencies' wheels
(receiver_agent/deploy/requirements.lock). Tests and the demo use it; `scripts/build-release.sh`
does the same for a board's platform.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from loalang_protocol.keys import KeyPair
from loalang_protocol.releases import Manifest, extract_wheels, pack, verify
from receiver_agent.updates import launcher
from receiver_agent.updates.installer import INSTALLED

PROJECT = Path(__file__).resolve().parent.parent
PACKAGES = ("loalang_protocol", "receiver_agent", "controller", "loalang_stack")
PROJECT_FILES = ("pyproject.toml", "README.md")
LOCK = PROJECT / "receiver_agent" / "deploy" / "requirements.lock"
WHEELHOUSE = Path(sys.prefix) / "wheelhouse"
BUILD_ONLY = ("setuptools", "wheel", "packaging")  # in the wheelhouse to build, not in a release
VERSION_LINE = re.compile(r'^__version__ = "[^"]*"', re.MULTILINE)
BOARD_PYTHON_VERSION = "3.11"  # Debian 12's python3, which runs the agent on a board
# The wheel platform tags a board's Debian 12 (glibc 2.36) installs, newest first.
_GLIBC = [f"manylinux_2_{minor}" for minor in range(36, 16, -1)]
BOARD_PLATFORMS = {
    "arm64": [*(f"{tag}_aarch64" for tag in _GLIBC), "manylinux2014_aarch64", "linux_aarch64"],
    "amd64": [*(f"{tag}_x86_64" for tag in _GLIBC), "manylinux2014_x86_64", "linux_x86_64"],
}


class BuildError(RuntimeError):
    """The wheel could not be built (pip's last lines say why)."""


def project_wheel(version: str, out: Path, wheelhouse: Path = WHEELHOUSE, source: Path = PROJECT,
                  change: Callable[[Path], None] | None = None) -> Path:
    """Build the project's wheel with its version set to version, into out; returns the wheel. change,
    when given, edits the copied source first (a test's broken release)."""
    with tempfile.TemporaryDirectory(prefix="loalang-build-") as tmp:
        copy = Path(tmp) / "src"
        for package in PACKAGES:
            shutil.copytree(source / package, copy / package,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules"))
        for name in PROJECT_FILES:
            shutil.copy(source / name, copy / name)
        init = copy / "loalang_protocol" / "__init__.py"
        init.write_text(VERSION_LINE.sub(f'__version__ = "{version}"', init.read_text()))
        if change is not None:
            change(copy)
        out.mkdir(parents=True, exist_ok=True)
        built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index",
                                "--find-links", str(wheelhouse), "--wheel-dir", str(out), str(copy)],
                               capture_output=True, text=True)
        if built.returncode != 0:
            raise BuildError("\n".join(built.stderr.strip().splitlines()[-5:]))
    return next(out.glob(f"loalang-{version}-*.whl"))


def locked_requirements() -> list[str]:
    """The lock file's lines (`name==version`), in its order."""
    lines = (line.strip() for line in LOCK.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def dependency_wheels(wheelhouse: Path = WHEELHOUSE) -> list[Path]:
    """The locked dependencies' wheels (one per line of the lock file, in its order)."""
    names = [_normalised(pin.split("==")[0]) for pin in locked_requirements()]
    found = {_normalised(wheel.name.split("-")[0]): wheel for wheel in wheelhouse.glob("*.whl")}
    missing = [name for name in names if name not in found]
    if missing:
        raise BuildError(f"not in {wheelhouse}: {', '.join(missing)} (run scripts/bootstrap-venv.sh)")
    return [found[name] for name in names]


def board_wheels(board: str, dest: Path, wheelhouse: Path = WHEELHOUSE) -> Path:
    """The locked dependencies' wheels for a board's platform, in dest: the pure-Python ones from the
    wheelhouse (some come only as source there, built by the bootstrap), the others downloaded for the
    board's platform by pip from the package index (the only network a build needs). Returns dest."""
    tags = BOARD_PLATFORMS.get(board)
    if tags is None:
        raise BuildError(f"unknown board {board!r}: one of {', '.join(BOARD_PLATFORMS)}")
    dest.mkdir(parents=True, exist_ok=True)
    compiled = []
    for wheel, pin in zip(dependency_wheels(wheelhouse), locked_requirements(), strict=True):
        if wheel.name.endswith("-none-any.whl"):
            shutil.copy(wheel, dest / wheel.name)
        else:
            compiled.append(pin)
    platforms = [argument for tag in tags for argument in ("--platform", tag)]
    done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                           *platforms, "--python-version", BOARD_PYTHON_VERSION, "--implementation", "cp",
                           "--dest", str(dest), *compiled], capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError("\n".join(done.stderr.strip().splitlines()[-5:]))
    return dest


def build_release(version: str, notes: str, key: KeyPair, certificate: dict[str, object], out: Path,
                  wheelhouse: Path = WHEELHOUSE, change: Callable[[Path], None] | None = None,
                  dependencies: Path | None = None) -> Manifest:
    """A signed release of this project at version, written to out (change: see project_wheel).
    dependencies: where the locked dependencies' wheels are, when not in the wheelhouse (another
    platform's: board_wheels)."""
    with tempfile.TemporaryDirectory(prefix="loalang-wheel-") as tmp:
        wheel = project_wheel(version, Path(tmp), wheelhouse, change=change)
        return pack([wheel, *dependency_wheels(dependencies or wheelhouse)], version, notes, key, certificate,
                    out)


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


UNIT = PROJECT / "receiver_agent" / "deploy" / "loalang-agent.service"
BOARD_PYTHON = "/usr/bin/python3"  # Debian's, as on the board (a developer's own may live in /root)


def install_board(root: Path, release_file: Path, root_public: Ed25519PublicKey) -> str:
    """Lay out a board as install-receiver.sh does, from a verified release: releases/<version> with
    its own virtual environment (the release's wheels, no index), its `installed` mark, the `current`
    link and the launcher; returns the version."""
    release = verify(release_file, root_public)
    version = release.manifest.version
    target = root / launcher.RELEASES / version
    wheels = extract_wheels(release_file, release, target / "wheels")
    for command in ([BOARD_PYTHON, "-m", "venv", "--system-site-packages", str(target / "venv")],
                    [str(target / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index",
                     "--find-links", str(wheels[0].parent), release.manifest.requirement]):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise BuildError("\n".join(done.stderr.strip().splitlines()[-5:]))
    shutil.rmtree(target / "wheels")
    (target / INSTALLED).write_text(f"{version}\n")
    launcher.switch_to(root, version)
    shutil.copy(launcher.__file__, root / "launch.py")
    return version


def board_unit(root: Path, config: Path, log_file: Path, watchdog_s: int = 60) -> str:
    """The board's own unit file, for a board laid out under root: its folders replaced by the test's,
    run as root (no loalang user here), with the test's data outside a private /tmp, output to
    log_file, the watchdog's time given, and no tie to the boot's targets (a test's systemd has none)."""
    data = config.parent
    text = UNIT.read_text()
    for old, new in (("/etc/loalang/agent.toml", str(config)), ("/opt/loalang", str(root)),
                     ("/var/lib/loalang", str(data)), ("/etc/loalang", str(data)),
                     ("User=loalang", "User=root"), ("Group=loalang", "Group=root"),
                     ("PrivateTmp=yes", "PrivateTmp=no"), ("WatchdogSec=60", f"WatchdogSec={watchdog_s}"),
                     ("RestartSec=5", "RestartSec=1")):
        text = text.replace(old, new)
    boot_only = ("SupplementaryGroups=", "Wants=", "After=")  # the boot's targets: not in a test's box
    text = "\n".join(line for line in text.splitlines() if not line.startswith(boot_only))
    output = f"[Service]\nStandardOutput=append:{log_file}\nStandardError=inherit\n"
    return text.replace("[Unit]\n", "[Unit]\nDefaultDependencies=no\n", 1).replace("[Service]\n", output, 1)


def main(argv: list[str] | None = None) -> int:
    """`scripts/build-release.sh`: build and sign a release for a board's platform."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="build-release.sh", description=main.__doc__)
    parser.add_argument("--version", required=True, help="the release's version, for example 1.4.0")
    parser.add_argument("--key-dir", required=True, help="the release key's folder (release.key, "
                                                          "release.cert.json: keys certify-release)")
    parser.add_argument("--out", required=True, help="the release file to write")
    parser.add_argument("--board", default="arm64", choices=sorted(BOARD_PLATFORMS),
                        help="the boards' platform (default arm64: Raspberry Pi 3/4/5 on Debian 12)")
    parser.add_argument("--notes", default="", help="what changed, shown in the console")
    args = parser.parse_args(argv)
    from controller.keyring import RELEASE_CERT, RELEASE_KEY

    keys = Path(args.key_dir)
    try:
        key = KeyPair.load(keys / RELEASE_KEY)
        certificate = json.loads((keys / RELEASE_CERT).read_text())
        with tempfile.TemporaryDirectory(prefix="loalang-board-wheels-") as tmp:
            dependencies = board_wheels(args.board, Path(tmp))
            manifest = build_release(args.version, args.notes, key, certificate, Path(args.out),
                                     dependencies=dependencies)
    except (OSError, ValueError, BuildError) as exc:
        print(f"cannot build the release: {exc}", file=sys.stderr)
        return 1
    print(f"release {manifest.version} for {args.board} ({len(manifest.wheels)} wheels): {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
