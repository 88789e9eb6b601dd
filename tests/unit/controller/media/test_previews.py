"""Spoken previews are found by their maker only, and only while they last; the sweep removes them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from controller.media.previews import Previews

pytestmark = pytest.mark.unit


def made(previews: Previews, owner: str) -> str:
    token, path = previews.new(owner)
    path.write_bytes(b"OggS")
    return token


def age(previews: Previews, seconds: float) -> None:
    for path in previews.folder.iterdir():
        then = time.time() - seconds
        os.utime(path, (then, then))


def test_a_preview_is_found_by_its_maker_only(tmp_path: Path) -> None:
    previews = Previews(tmp_path)
    token = made(previews, "vanhanh-1")
    assert previews.find("vanhanh-1", token) is not None
    assert previews.find("vanhanh-2", token) is None, "another user's name leads to another file"
    assert previews.find("vanhanh-1", "../" + token) is None and previews.find("vanhanh-1", "0" * 32) is None


def test_a_preview_ends_with_its_lifetime_and_the_sweep_removes_it(tmp_path: Path) -> None:
    previews = Previews(tmp_path, lifetime_s=600)
    old = made(previews, "a")
    age(previews, 601)
    fresh = made(previews, "a")
    assert previews.find("a", old) is None, "expired, even before the sweep"
    assert previews.sweep() == 1
    assert previews.find("a", fresh) is not None and len(list(previews.folder.iterdir())) == 1


def test_the_sweep_of_a_folder_never_made_removes_nothing(tmp_path: Path) -> None:
    assert Previews(tmp_path).sweep() == 0
