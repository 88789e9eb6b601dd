"""The end-to-end modules run longest first, each module's tests in their own order, and the measured
seconds name only modules that exist."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.module_seconds import UNKNOWN_S, known_seconds, longest_first, measured

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_longest_modules_first_and_each_modules_order_kept() -> None:
    names = ["tests/e2e/test_a.py::one", "tests/e2e/test_a.py::two", "tests/e2e/test_b.py::one",
             "tests/e2e/test_new.py::one", "tests/e2e/test_c.py::one", "tests/e2e/test_c.py::two"]
    items = [SimpleNamespace(nodeid=name) for name in names]
    seconds = {"tests/e2e/test_a.py": 10.0, "tests/e2e/test_b.py": 250.0, "tests/e2e/test_c.py": 60.0}
    assert [item.nodeid for item in longest_first(items, seconds)] == [
        "tests/e2e/test_b.py::one",
        "tests/e2e/test_new.py::one",  # not measured yet: taken for a long one (UNKNOWN_S)
        "tests/e2e/test_c.py::one", "tests/e2e/test_c.py::two",
        "tests/e2e/test_a.py::one", "tests/e2e/test_a.py::two"]
    assert 60.0 < UNKNOWN_S < 250.0


def test_seconds_are_read_from_durations_lines() -> None:
    log = ["12.50s call     tests/e2e/test_a.py::test_x[p]", "0.50s setup    tests/e2e/test_a.py::test_x[p]",
           "3.00s teardown tests/e2e/test_b.py::test_y", "(590 durations < 0.005s hidden.)", "noise"]
    assert measured(log) == {"tests/e2e/test_a.py": 13, "tests/e2e/test_b.py": 3}


def test_every_measured_module_exists() -> None:
    missing = [module for module in known_seconds() if not (ROOT / module).is_file()]
    assert not missing, f"measured modules that are gone (measure again: tests/module_seconds.py): {missing}"
