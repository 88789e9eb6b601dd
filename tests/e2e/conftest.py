"""Whole-system fixtures: a controller process and a fleet driver."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loalang_stack.icecast import Icecast
from loalang_stack.services import ControllerProcess
from loalang_stack.stack import LocalStack
from tests.browser import PageErrors, chromium
from tests.testkit import Fleet, Stack


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


CHIRP = "aevalsrc=exprs=0.4*sin(2*PI*(300*mod(t\\,1)+400*mod(t\\,1)*mod(t\\,1))):s=48000:d=60"


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Icecast]:
    """A local Icecast2 server with a station playing a chirp for a minute."""
    with LocalStack(tmp_path) as servers:
        server = servers.start_icecast()
        source = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", CHIRP,
             "-ac", "1", "-c:a", "libmp3lame",
             "-b:a", "64k", "-content_type", "audio/mpeg", "-f", "mp3", server.source_url("station.mp3")])
        try:
            yield server
        finally:
            source.kill()
            source.wait()


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
