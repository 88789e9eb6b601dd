"""Shared fixtures: the project's own Mosquitto and Redis on free ports, and the controller."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.module_seconds import known_seconds, longest_first
from tests.shared_trust import share_default_trust
from tests.testkit import Stack

share_default_trust()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest modules first, so that the workers end together (tests/module_seconds.py)."""
    items[:] = longest_first(items, known_seconds())


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Mosquitto (with dynamic security) and Redis, started once for the session."""
    for program in ("mosquitto", "redis-server", "mosquitto_pub"):
        if shutil.which(program) is None and not Path(f"/usr/sbin/{program}").exists():
            pytest.fail(f"{program} is not installed; run `make test`, which installs it")
    with Stack(tmp_path_factory.mktemp("stack")) as running:  # stops what it started, even on an error
        running.start_broker()
        running.start_redis()
        yield running
