"""A rollout's stages: counts and percentages of its devices, each stage reaching at least as many as
the one before, the last taking everyone."""

from __future__ import annotations

import pytest

from controller.errors import DomainError
from controller.releases.rollouts import stage_sizes

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("stages", "total", "sizes"), [
    ([1, "5%", "25%", "100%"], 200, [1, 10, 50, 200]),
    ([1, "5%", "25%", "100%"], 3, [1, 1, 1, 3]),  # a small fleet: a stage is never empty
    (["100%"], 7, [7]),
    ([2, 5], 40, [2, 40]),  # the last stage takes everyone, whatever it says
    ([1, "50%"], 1, [1, 1]),
    (["0.5%", "100%"], 1000, [5, 1000]),
])
def test_stages_become_cumulative_device_counts(stages: list[int | str], total: int,
                                                 sizes: list[int]) -> None:
    assert stage_sizes(stages, total) == sizes


@pytest.mark.parametrize("stages", [
    [], [0], [-1], ["0%"], ["101%"], ["abc%"], ["5"], [True], [5, 2], ["50%", "10%"], [1] * 11, [1.5],
])
def test_stages_that_mean_nothing_are_refused(stages: list) -> None:
    with pytest.raises(DomainError) as refused:
        stage_sizes(stages, 100)
    assert refused.value.code == "invalid_stages" and refused.value.field == "stages"
