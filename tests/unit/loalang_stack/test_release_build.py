"""Building a release for the boards' platform (scripts/build-release.sh): which wheels come from where."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from loalang_stack import release_build

pytestmark = pytest.mark.unit


def test_pure_wheels_are_copied_and_compiled_ones_are_fetched_for_the_board(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[list[str]] = []

    def pip(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        asked.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(release_build.subprocess, "run", pip)
    dest = release_build.board_wheels("arm64", tmp_path / "wheels")
    pins = release_build.locked_requirements()
    compiled = [pin for pin, wheel in zip(pins, release_build.dependency_wheels(), strict=True)
                if not wheel.name.endswith("-none-any.whl")]
    assert {"cryptography", "cffi", "pydantic_core"} <= {pin.split("==")[0] for pin in compiled}
    copied = sorted(wheel.name for wheel in dest.iterdir())
    assert copied and all(name.endswith("-none-any.whl") for name in copied)
    assert len(copied) + len(compiled) == len(pins), "every locked dependency, from one place or the other"
    (command,) = asked
    assert command[-len(compiled):] == compiled
    platforms = [command[index + 1] for index, word in enumerate(command) if word == "--platform"]
    assert "manylinux_2_36_aarch64" in platforms and "manylinux2014_aarch64" in platforms
    assert not any("x86_64" in tag for tag in platforms)
    assert "--only-binary=:all:" in command and "--no-deps" in command
    assert command[command.index("--python-version") + 1] == "3.11"


def test_an_unknown_board_is_refused(tmp_path: Path) -> None:
    with pytest.raises(release_build.BuildError, match="unknown board 'mips'"):
        release_build.board_wheels("mips", tmp_path)


def test_without_a_release_key_the_script_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = release_build.main(["--version", "1.4.0", "--key-dir", str(tmp_path / "none"),
                               "--out", str(tmp_path / "out.release")])
    assert code == 1
    assert "cannot build the release" in capsys.readouterr().err
    assert not (tmp_path / "out.release").exists()
