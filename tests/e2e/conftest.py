"""Whole-system fixtures: a controller process and a fleet driver."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loalang_stack import systemd_box
from loalang_stack.icecast import Icecast
from loalang_stack.services import ControllerProcess
from loalang_stack.stack import LocalStack
from loalang_stack.systemd_box import SystemdBox
from tests.browser import PageErrors, chromium
from tests.testkit import Fleet, Stack, nats_system, playing_station


@pytest.fixture(scope="session")
def controller(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerProcess]:
    """The controller, running as `radio-controller serve` against the test stack.

    With LOALANG_TEST_DATABASE=postgresql it runs on its own PostgreSQL cluster (Debian's
    postgresql, with the same Alembic migrations); `make test` runs the API tests both ways.
    """
    root = tmp_path_factory.mktemp("controller")
    with LocalStack(root) as servers:  # stops the controller, then its database
        if os.environ.get("LOALANG_TEST_DATABASE") == "postgresql":
            servers.start_postgres()
        yield servers.start_controller(stack.controller_env(), folder=root)


@pytest.fixture
def fleet(controller: ControllerProcess, tmp_path: Path) -> Iterator[Fleet]:
    """A fleet helper; agents it started are stopped afterwards."""
    helper = Fleet(controller, tmp_path)
    helper.ensure_areas()
    yield helper
    helper.close()


@pytest.fixture(scope="module", params=["mosquitto", "nats"])
def broker_system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, Stack, ControllerProcess]]:
    """The broker under test, its stack and a controller on it: the session's Mosquitto and controller,
    or a NATS cluster with a controller of its own."""
    if request.param == "mosquitto":
        yield "mosquitto", request.getfixturevalue("stack"), request.getfixturevalue("controller")
        return
    with nats_system(tmp_path_factory.mktemp("nats")) as (stack, controller):
        yield "nats", stack, controller


@pytest.fixture
def broker_stack(broker_system: tuple[str, Stack, ControllerProcess]) -> Stack:
    """The stack of the broker under test (its mqtt_port and controller password)."""
    return broker_system[1]


@pytest.fixture
def broker_fleet(broker_system: tuple[str, Stack, ControllerProcess], tmp_path: Path) -> Iterator[Fleet]:
    """A fleet helper on the controller of the broker under test."""
    helper = Fleet(broker_system[2], tmp_path)
    helper.ensure_areas()
    yield helper
    helper.close()


@pytest.fixture
def box(tmp_path: Path) -> Iterator[SystemdBox]:
    """A systemd of the test's own (loalang_stack/systemd_box.py), stopped with everything in it."""
    reason = systemd_box.available()
    assert reason is None, reason
    started = SystemdBox(tmp_path / "box")
    yield started
    started.stop()


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Icecast]:
    """A local Icecast2 server with a station playing a chirp for a minute."""
    with playing_station(tmp_path) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for a module's browser tests; each test opens its own contexts. (Per
    module: Playwright's synchronous API must not be running while another module's tests run their
    own event loops.)"""
    with chromium() as launched:
        yield launched


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    """Open pages (desktop size unless told); each is checked for JavaScript errors at the end."""
    opened: list[tuple[Any, PageErrors]] = []

    def open_one(width: int = 1280, height: int = 900) -> tuple[Any, PageErrors]:
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        errors = PageErrors(page)
        opened.append((context, errors))
        return page, errors

    yield open_one
    for context, errors in opened:
        context.close()
        assert errors.messages == [], errors.messages
