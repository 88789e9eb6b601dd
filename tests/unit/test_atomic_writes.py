"""Every file the agent and the controller write goes through loalang_protocol/files.py, and that
module's steps leave the old file or the new one after a power cut at any instant.

A kill -9 keeps what the kernel holds, so it cannot show what a cut loses. Here the helpers run on
the real file system while their fsyncs and renames are recorded; a cut after any step is replayed
on a model that throws away what was not yet fsynced: file contents not fsynced are lost, and the
renames made since the folder's last fsync are kept only in part (a prefix of them, in order, as a
journal keeps them).
"""

from __future__ import annotations

import ast
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from loalang_protocol import files
from receiver_agent.updates import launcher

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("controller", "receiver_agent", "loalang_protocol")
HELPER = "loalang_protocol/files.py"
# The board's launcher runs with the system's python3, outside any release, so it cannot import the
# helper: it has its own copy of the steps, replayed below like the helper's.
STANDALONE_HELPERS = {"receiver_agent/updates/launcher.py": ("_write_atomic", "switch_to", "_sync_folder")}
WRITE_MODES = set("wax+")

# Writes that are not state to keep through a cut, each with its reason (module, function).
NOT_STATE = {
    ("controller/api/media.py", "_receive"): "an upload's incoming copy: temporary, stored or removed",
    ("controller/media/store.py", "temporary_file"): "makes the temporary files uploads are written to",
    ("controller/api/releases.py", "_receive"): "a release upload's incoming copy: verified and moved "
                                                "into place, or removed",
    ("controller/releases/shelf.py", "temporary_file"): "makes the temporary files release uploads use",
    ("controller/releases/cli.py", "releases_add"): "copies a release to its temporary file, as _receive",
    ("controller/media/store.py", "temporary_folder"): "makes the temporary folders conversions use",
    ("controller/media/store.py", "put"): "streams an upload to a temporary file, then move_into_place",
    ("controller/live/records.py", "__init__"): "a live broadcast's recording as it is made: temporary, "
                                                "stored by MediaStore.put (move_into_place) at its end",
    ("receiver_agent/media/cache.py", "_request"): "a download's part, appended as it arrives and "
                                                   "checked, then move_into_place",
    ("receiver_agent/amplifier.py", "set"): "the simulated relay's pin file and its log: the simulator's "
                                            "instruments, as sysfs is a GPIO pin's",
    ("receiver_agent/audio/simulated.py", "open_wav"): "the simulated sound card's recording",
    ("receiver_agent/audio/simulated.py", "check"): "the simulated sound card's writability probe",
    ("receiver_agent/audio/simulated.py", "_record"): "the simulated sound card's play log",
    ("receiver_agent/audio/simulated.py", "_note_underrun"): "the simulated sound card's underrun log",
    ("receiver_agent/doctor.py", "check_disk"): "a probe that the data folder is writable",
    ("loalang_protocol/mqtt.py", "use_addresses"): "not a file: the address rotation's replace()",
}


# --- no module writes a file another way ---------------------------------------------------------

def _write_call(node: ast.Call) -> str | None:
    """What kind of file write node is, if it is one."""
    function = node.func
    if isinstance(function, ast.Name) and function.id == "open":
        return _open_mode(node, 1, unknown_is_write=True)
    if not isinstance(function, ast.Attribute):
        return None
    name, owner = function.attr, function.value
    if isinstance(owner, ast.Name) and owner.id == "os" and name in {"replace", "rename", "open", "fdopen"}:
        return f"os.{name}"
    if isinstance(owner, ast.Name) and owner.id == "tempfile":
        return f"tempfile.{name}"
    if name in {"write_text", "write_bytes"}:
        return name
    if name in {"replace", "rename"} and len(node.args) == 1 and not node.keywords:
        return f"Path.{name}"
    if name == "open":  # Path.open(mode), but also other objects' open(...): only a readable mode counts
        return _open_mode(node, 0, unknown_is_write=False)
    return None


def _open_mode(node: ast.Call, position: int, unknown_is_write: bool) -> str | None:
    mode = node.args[position] if len(node.args) > position else None
    mode = next((k.value for k in node.keywords if k.arg == "mode"), mode)
    if mode is None:
        return None  # read
    modes = _strings(mode)
    if modes is None:
        return "open(a mode chosen at run time)" if unknown_is_write else None
    return f"open({' or '.join(sorted(modes))})" if any(set(m) & WRITE_MODES for m in modes) else None


def _strings(expression: ast.expr) -> set[str] | None:
    """The strings an expression can be: a constant, or either branch of a conditional."""
    if isinstance(expression, ast.Constant) and isinstance(expression.value, str):
        return {expression.value}
    if isinstance(expression, ast.IfExp):
        body, orelse = _strings(expression.body), _strings(expression.orelse)
        return None if body is None or orelse is None else body | orelse
    return None


def _writes(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line, function, kind) of each file write in a module."""
    tree = ast.parse(path.read_text(), str(path))
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, ast.Call) and (kind := _write_call(node)):
                    yield node.lineno, function.name, kind


def test_every_file_is_written_through_the_one_atomic_helper() -> None:
    found = set()
    stray = []
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            module = path.relative_to(ROOT).as_posix()
            if module == HELPER:
                continue
            for line, function, kind in _writes(path):
                if function in STANDALONE_HELPERS.get(module, ()):
                    continue
                if (module, function) in NOT_STATE:
                    found.add((module, function))
                else:
                    stray.append(f"{module}:{line} in {function}(): {kind}")
    assert not stray, ("write these through loalang_protocol.files (write_atomic, atomic_file, "
                       "move_into_place), or name them in NOT_STATE with the reason:\n" + "\n".join(stray))
    assert found == set(NOT_STATE), f"NOT_STATE names writes that are gone: {set(NOT_STATE) - found}"


def test_the_check_sees_a_write_made_another_way(tmp_path: Path) -> None:
    module = tmp_path / "state.py"
    module.write_text("def save(path, data):\n    path.write_text(data)\n\n"
                      "def save_too(path, data, append):\n"
                      "    with path.open('ab' if append else 'wb') as out:\n"
                      "        out.write(data)\n\n"
                      "def save_again(path, data, mode):\n    with open(path, mode) as out:\n"
                      "        out.write(data)\n")
    found = [(function, kind) for _, function, kind in _writes(module)]
    assert found == [("save", "write_text"), ("save_too", "open(ab or wb)"),
                     ("save_again", "open(a mode chosen at run time)")]


# --- a cut at any instant leaves the old file or the new one ---------------------------------------

@dataclass
class Disk:
    """What a power cut keeps: fsynced contents, and folder entries up to the folder's last fsync
    (with any prefix of the renames made since)."""

    contents: dict[int, bytes] = field(default_factory=dict)  # inode -> bytes as last fsynced
    entries: dict[str, int] = field(default_factory=dict)  # name -> inode, as last made durable
    pending: list[tuple[str, str | None, int]] = field(default_factory=list)  # (new name, old name, inode)
    cuts: list[tuple[dict[int, bytes], dict[str, int], list[tuple[str, str | None, int]]]] = \
        field(default_factory=list)

    def cut_here(self) -> None:
        self.cuts.append((dict(self.contents), dict(self.entries), list(self.pending)))

    def fsync(self, fd: int) -> None:
        status = os.fstat(fd)
        if stat.S_ISDIR(status.st_mode):
            for name, old, inode in self.pending:
                self.entries[name] = inode
                if old is not None:
                    self.entries.pop(old, None)
            self.pending.clear()
        else:
            self.contents[status.st_ino] = os.pread(fd, status.st_size, 0)
        self.cut_here()

    def replace(self, source: str, target: str) -> None:
        self.pending.append((Path(target).name, Path(source).name, os.stat(source).st_ino))
        self.cut_here()


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    recorded = Disk()
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        real_fsync(fd)
        recorded.fsync(fd)

    def replace(source: str | Path, target: str | Path) -> None:
        recorded.replace(str(source), str(target))
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return recorded


OLD, NEW = b"old configuration\n" * 50, b"new configuration, a little longer\n" * 60


def _after_each_cut(disk: Disk, name: str) -> Iterator[bytes | None]:
    """The file named name as a cut would leave it, at every step and every persisted prefix."""
    for contents, entries, pending in disk.cuts:
        for kept in range(len(pending) + 1):
            names = dict(entries)
            for new_name, old_name, inode in pending[:kept]:
                names[new_name] = inode
                if old_name is not None:
                    names.pop(old_name, None)
            inode = names.get(name)
            yield None if inode is None else contents.get(inode, b"")


def _start(tmp_path: Path, disk: Disk) -> Path:
    target = tmp_path / "agent.toml"
    target.write_bytes(OLD)
    status = target.stat()
    disk.contents[status.st_ino] = OLD
    disk.entries[target.name] = status.st_ino
    disk.cut_here()
    return target


def _naive(target: Path, data: bytes) -> None:
    """How a file was written before: a temporary file renamed without fsync."""
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def _through_move_into_place(target: Path, data: bytes) -> None:
    written = target.with_name("download.part")
    written.write_bytes(data)
    files.move_into_place(written, target)


def _through_atomic_file(target: Path, data: bytes) -> None:
    with files.atomic_file(target) as out:
        out.write(data[:100])
        out.write(data[100:])


def _through_the_launcher(target: Path, data: bytes) -> None:
    launcher._write_atomic(target, data)


@pytest.mark.parametrize("write", [files.write_atomic, _through_atomic_file, _through_move_into_place,
                                   _through_the_launcher])
def test_a_cut_at_any_step_leaves_the_old_file_or_the_new_one(
        write: Callable[[Path, bytes], None], tmp_path: Path, disk: Disk) -> None:
    target = _start(tmp_path, disk)
    write(target, NEW)
    left = list(_after_each_cut(disk, target.name))
    assert len(disk.cuts) >= 3, "the helper's steps were recorded"
    assert all(content in (OLD, NEW) for content in left), {len(c or b"") for c in left}
    assert disk.cuts[-1][1][target.name] == os.stat(target).st_ino and not disk.cuts[-1][2], \
        "once the helper returns, the new file survives a cut"
    assert target.read_bytes() == NEW


def test_the_model_catches_a_rename_without_fsync(tmp_path: Path, disk: Disk) -> None:
    target = _start(tmp_path, disk)
    _naive(target, NEW)
    disk.cut_here()
    left = list(_after_each_cut(disk, target.name))
    assert b"" in left, "a cut after the rename and before the bytes reached the disk leaves an empty file"
