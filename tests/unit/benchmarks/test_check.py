"""bench-check's verdicts: a figure over its bound is missed, a figure the run did not give is not met."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.check import GOALS, table

pytestmark = pytest.mark.unit


def results(start_p99: float = 2.3, skew_p95: float = 0.4, missed: int = 0) -> dict[str, dict[str, Any]]:
    return {
        "playout": {"start_error_ms_p99": start_p99, "cpu_playing_percent_of_one_core": 1.8,
                    "rss_playing_mb_max": 58.0},
        "live": {"controller_to_speaker_error_ms": {"p95": 0.5}, "skew_ms": {"p95": skew_p95},
                 "onsets_missed": missed, "chunk": {"overhead_percent_of_opus": 13.3},
                 "cpu_percent_of_one_core": {"agents_playing": [3.4, 3.6, 3.5]},
                 "agents_rss_mb_playing": [52.0, 51.5, 52.3]},
    }


def test_every_goal_met_reads_met() -> None:
    shown, every = table(results())
    assert every and shown.count("| met |") == len(GOALS)
    assert "| scheduled start error, p99 | 2.3 ms | at most 20 ms | met |" in shown


@pytest.mark.parametrize("changed, goal", [
    ({"start_p99": 25.0}, "scheduled start error, p99"),
    ({"skew_p95": 1.2}, "live: skew between two agents, p95"),
    ({"missed": 1}, "live: bursts not heard"),
])
def test_a_figure_over_its_bound_is_missed(changed: dict[str, float], goal: str) -> None:
    shown, every = table(results(**changed))  # type: ignore[arg-type]
    assert not every
    assert [line for line in shown.splitlines() if "MISSED" in line] == [
        line for line in shown.splitlines() if line.startswith(f"| {goal} |")]


def test_a_figure_the_run_did_not_give_is_not_met() -> None:
    partial = results()
    del partial["live"]["skew_ms"]
    shown, every = table(partial)
    assert not every and "| live: skew between two agents, p95 | not measured |" in shown
