"""The order the end-to-end modules run in: the longest first.

Modules are shared among the test workers one at a time, in the order given (`make test` passes its e2e runs
--no-loadscope-reorder: pytest-xdist's own order is by number of tests, which sent the single
four-minute test last). Longest first, a worker freed late takes a short module, and the workers end
together. The seconds each module took come from a full run (`module_seconds.json`); a module not
there yet is taken for a long one. To measure them again:

    .venv/bin/python -m pytest -q -n 3 --dist loadfile -m e2e --durations=0 > e2e.log
    .venv/bin/python -m tests.module_seconds e2e.log > tests/module_seconds.json
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

SECONDS_FILE = Path(__file__).with_name("module_seconds.json")
UNKNOWN_S = 120.0  # a module not measured yet goes early: it may be a long one
DURATION = re.compile(r"^([\d.]+)s (?:setup|call|teardown)\s+(\S+?\.py)::")


def measured(log_lines: list[str]) -> dict[str, int]:
    """Seconds per module (setup, calls and teardown) from pytest's --durations=0 lines."""
    seconds: dict[str, float] = defaultdict(float)
    for line in log_lines:
        if found := DURATION.match(line):
            seconds[found.group(2)] += float(found.group(1))
    return {module: round(total) for module, total in sorted(seconds.items())}


def longest_first(items: list[Any], seconds: dict[str, float]) -> list[Any]:
    """items (pytest's) with their modules ordered longest first, each module's own order kept."""
    def weight(item: Any) -> float:
        return -seconds.get(item.nodeid.split("::", 1)[0], UNKNOWN_S)
    return sorted(items, key=weight)  # stable: a module's tests keep their order


def known_seconds() -> dict[str, float]:
    return {module: float(s) for module, s in json.loads(SECONDS_FILE.read_text()).items()}


if __name__ == "__main__":
    print(json.dumps(measured(Path(sys.argv[1]).read_text().splitlines()), indent=0, sort_keys=True))
