"""Whole-system fixtures: a controller process and a fleet driver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loalang_stack.ports import free_port
from loalang_stack.services import ControllerProcess
from tests.testkit import Fleet, Stack


@pytest.fixture(scope="session")
def controller(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerProcess]:
    """The controller, running as `radio-controller serve` against the test stack."""
    process = ControllerProcess(tmp_path_factory.mktemp("controller"), free_port(), stack.controller_env())
    process.start()
    yield process
    process.stop()


@pytest.fixture
def fleet(controller: ControllerProcess, tmp_path: Path) -> Iterator[Fleet]:
    """A fleet helper; agents it started are stopped afterwards."""
    helper = Fleet(controller, tmp_path)
    helper.ensure_areas()
    yield helper
    helper.close()
