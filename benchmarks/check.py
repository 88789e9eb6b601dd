"""The documented goals beside figures measured now: `make bench-check`.

The test suite checks order, presence and generous bounds that catch a hang; the goals themselves
(a start within 20 ms, agents in step within a millisecond, the chunk overhead, an agent's memory
and CPU) are measured here, on a quiet machine, by the quick runs of the benchmarks that
docs/benchmarks.md describes at length: `benchmarks.playout` (20 starts on each of two agents, then
an agent playing a file) and `benchmarks.live` (20 s of microphone to three agents). Each goal is
printed with its figure and its verdict; the exit status is 1 when one is missed.

    .venv/bin/python -m benchmarks.check [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PLAYOUT = [sys.executable, "-m", "benchmarks.playout", "--starts", "20"]
LIVE = [sys.executable, "-m", "benchmarks.live", "--seconds", "20"]


@dataclass(frozen=True)
class Goal:
    """A documented goal: what is measured, by which run, the figure's unit, and its bound."""

    name: str
    run: str
    figure: Callable[[dict[str, Any]], float]
    unit: str
    at_most: float

    def verdict(self, results: dict[str, dict[str, Any]]) -> tuple[float | None, bool]:
        """The figure measured (None when the run gave none) and whether it meets the goal."""
        try:
            value = float(self.figure(results[self.run]))
        except (KeyError, TypeError, ValueError):
            return None, False
        return value, value <= self.at_most


GOALS = (
    Goal("scheduled start error, p99", "playout", lambda r: r["start_error_ms_p99"], "ms", 20),
    Goal("agent CPU playing a file", "playout", lambda r: r["cpu_playing_percent_of_one_core"],
         "% of one core", 5),
    Goal("agent memory (RSS) playing a file, any decoder process included", "playout",
         lambda r: r["rss_playing_mb_max"], "MB", 60),
    Goal("live: controller to speaker error, p95", "live",
         lambda r: r["controller_to_speaker_error_ms"]["p95"], "ms", 20),
    Goal("live: skew between two agents, p95", "live", lambda r: r["skew_ms"]["p95"], "ms", 1),
    Goal("live: bursts not heard", "live", lambda r: r["onsets_missed"], "", 0),
    Goal("live: chunk overhead over its Opus", "live", lambda r: r["chunk"]["overhead_percent_of_opus"],
         "%", 15),
    Goal("live: agent CPU playing the stream (most of three)", "live",
         lambda r: max(r["cpu_percent_of_one_core"]["agents_playing"]), "% of one core", 5),
    Goal("live: agent memory (RSS) playing the stream (most of three)", "live",
         lambda r: max(r["agents_rss_mb_playing"]), "MB", 60),
)


def measured(command: list[str]) -> dict[str, Any]:
    """Run one benchmark and read the JSON line it prints last."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[2:])} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def table(results: dict[str, dict[str, Any]]) -> tuple[str, bool]:
    """The goals as a Markdown table with their figures and verdicts; whether every one is met."""
    lines = ["| goal | measured | bound | verdict |", "|---|---|---|---|"]
    every = True
    for goal in GOALS:
        value, met = goal.verdict(results)
        every = every and met
        shown = "not measured" if value is None else f"{value:g} {goal.unit}".rstrip()
        lines.append(f"| {goal.name} | {shown} | at most {goal.at_most:g} {goal.unit}".rstrip()
                     + f" | {'met' if met else 'MISSED'} |")
    return "\n".join(lines), every


def main() -> int:
    """Measure, print the table (or everything as JSON), exit 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the runs' figures as JSON too")
    args = parser.parse_args()
    results = {"playout": measured(PLAYOUT), "live": measured(LIVE)}
    shown, every = table(results)
    print(shown)
    print(f"machine: {results['playout'].get('machine')}")
    if args.json:
        print(json.dumps(results))
    return 0 if every else 1


if __name__ == "__main__":
    sys.exit(main())
