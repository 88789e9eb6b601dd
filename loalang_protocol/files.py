"""Atomic, durable files, for both the agent and the controller: the one way either writes a file
that must survive a power cut.

A cut leaves either the old file or the new one, never an empty or partial one: the bytes go to a
temporary file beside the target, which is fsynced before it is renamed over the target (else the
rename may reach the disk before the bytes), and the folder is fsynced after (else the rename itself
may be lost). `tests/unit/test_atomic_writes.py` checks that no module writes a file another way, and
replays these steps with everything not yet fsynced thrown away.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def write_atomic(path: Path, data: bytes, mode: int = 0o600, durable: bool = True) -> None:
    """Replace path with data so that a power cut leaves either the old or the new file. Not durable:
    still whole or absent after a cut, but perhaps the old one although this returned (for files
    rewritten often whose loss costs nothing, such as a health report)."""
    with atomic_file(path, mode, durable) as out:
        out.write(data)


@contextmanager
def atomic_file(path: Path, mode: int = 0o600, durable: bool = True) -> Iterator[BinaryIO]:
    """A file to write path through, in full or not at all: what is written goes to a temporary file
    beside path, which replaces path when the block ends without an exception (and is removed when
    it raises)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            yield out
            out.flush()
            if durable:
                os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        sync_folder(path.parent)


def move_into_place(written: Path, target: Path) -> None:
    """Rename a file written in full (a download, an upload whose name is its hash, known only at
    its end) over target, durably: its bytes are fsynced first and the folder after."""
    fd = os.open(written, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(written, target)
    sync_folder(target.parent)


def sync_folder(folder: Path) -> None:
    """Make the folder's entries durable: a rename into it survives a power cut once this returns."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
