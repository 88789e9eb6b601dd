"""Small rules of the reports: spreadsheet cells that cannot run, the data-budget warning."""

from __future__ import annotations

import pytest

from controller.api.devices import _data_use
from controller.api.reports import _cell
from controller.reports.plays import level_db

pytestmark = pytest.mark.unit


def test_a_formula_at_the_start_of_a_cell_is_neutralised() -> None:
    assert _cell('=HYPERLINK("http://x")') == "'=HYPERLINK(\"http://x\")"
    assert _cell("+84 912") == "'+84 912" and _cell("@SUM(A1)") == "'@SUM(A1)"
    assert _cell("Bản tin") == "Bản tin" and _cell(None) == "" and _cell(12) == 12


def test_the_data_budget_warns_at_80_percent() -> None:
    assert _data_use(None, {"data_month_bytes": 10}) == {"data_budget_mb": None}
    assert _data_use(100, {"data_month_bytes": 79_000_000}) == {
        "data_budget_mb": 100, "data_used_pct": 79.0, "data_warning": False}
    assert _data_use(100, {"data_month_bytes": 80_000_000})["data_warning"] is True
    assert _data_use(100, None) == {"data_budget_mb": 100}


@pytest.mark.parametrize(("sent", "shown"), [
    (-6.04, -6.0), (0, 0.0), (-200, -200.0), ("abc", None), (float("nan"), None), (float("inf"), None),
    (1e300, None), (True, None), (None, None), ([-6], None), ({"db": -6}, None),
])
def test_a_heard_level_a_device_sent_is_reported_only_as_a_plausible_number(sent: object,
                                                                              shown: float | None) -> None:
    """The event is stored as the device signed it; the report never shows NaN, text or a list."""
    assert level_db(sent) == shown
