"""Schedules in the area's local time: once, daily, weekly, dates and RRULEs, bounded and validated."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from controller.scheduling.recurrence import Recurrence, RecurrenceError

pytestmark = pytest.mark.unit

VN = "Asia/Ho_Chi_Minh"  # UTC+7 all year


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def utc(instant_ms: int) -> str:
    return datetime.fromtimestamp(instant_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M %a")


def test_once_plays_at_its_local_time() -> None:
    once = Recurrence("once", datetime(2026, 12, 1, 7, 0), VN)
    assert [utc(t) for t in once.between(ms("2026-11-30T00:00"), ms("2026-12-03T00:00"))] == [
        "2026-12-01 00:00 Tue"]
    assert once.between(ms("2026-12-02T00:00"), ms("2026-12-09T00:00")) == []


def test_daily_until_a_last_day_inclusive() -> None:
    daily = Recurrence("daily", datetime(2026, 12, 1, 17, 30), VN, until_local=date(2026, 12, 3))
    plays = [utc(t) for t in daily.between(ms("2026-11-01T00:00"), ms("2027-01-01T00:00"))]
    assert plays == ["2026-12-01 10:30 Tue", "2026-12-02 10:30 Wed", "2026-12-03 10:30 Thu"]


def test_weekly_on_monday_and_friday_mornings() -> None:
    weekly = Recurrence("weekly", datetime(2026, 11, 30, 6, 0), VN, weekdays=(0, 4))
    plays = [utc(t) for t in weekly.between(ms("2026-11-29T00:00"), ms("2026-12-12T00:00"))]
    # 06:00 in Vietnam is 23:00 UTC the evening before
    assert plays == ["2026-11-29 23:00 Sun", "2026-12-03 23:00 Thu", "2026-12-06 23:00 Sun",
                     "2026-12-10 23:00 Thu"]


def test_given_dates_at_the_start_time_of_day() -> None:
    dates = Recurrence("dates", datetime(2026, 12, 1, 19, 0), VN,
                       dates=(date(2026, 12, 24), date(2026, 12, 1), date(2027, 1, 1)))
    plays = [utc(t) for t in dates.between(ms("2026-11-01T00:00"), ms("2027-02-01T00:00"))]
    assert plays == ["2026-12-01 12:00 Tue", "2026-12-24 12:00 Thu", "2027-01-01 12:00 Fri"]


def test_an_rrule_with_daylight_saving_keeps_the_wall_clock_time() -> None:
    rule = Recurrence("rrule", datetime(2026, 3, 27, 8, 0), "Europe/Berlin", rule="FREQ=DAILY;COUNT=4")
    plays = [utc(t) for t in rule.between(ms("2026-03-01T00:00"), ms("2026-04-01T00:00"))]
    assert plays == ["2026-03-27 07:00 Fri", "2026-03-28 07:00 Sat", "2026-03-29 06:00 Sun",
                     "2026-03-30 06:00 Mon"]


def test_the_window_is_half_open_and_works_far_from_the_start() -> None:
    daily = Recurrence("daily", datetime(2020, 1, 1, 7, 0), VN)
    window = daily.between(ms("2026-12-01T00:00"), ms("2026-12-08T00:00"))
    assert len(window) == 7 and utc(window[0]) == "2026-12-01 00:00 Tue"
    assert daily.between(ms("2026-12-01T00:00"), ms("2026-12-01T00:00")) == []


def test_describe_gives_rfc5545_text() -> None:
    weekly = Recurrence("weekly", datetime(2026, 11, 30, 6, 0), VN, weekdays=(0,),
                        until_local=date(2027, 1, 1))
    text = weekly.describe()
    assert text.startswith("DTSTART;TZID=Asia/Ho_Chi_Minh:20261130T060000")
    assert "RRULE:FREQ=WEEKLY" in text and "BYDAY=MO" in text


@pytest.mark.parametrize("make, reason", [
    (lambda: Recurrence("weekly", datetime(2026, 12, 1, 7), VN), "weekdays"),
    (lambda: Recurrence("weekly", datetime(2026, 12, 1, 7), VN, weekdays=(7,)), "weekdays"),
    (lambda: Recurrence("dates", datetime(2026, 12, 1, 7), VN), "dates"),
    (lambda: Recurrence("dates", datetime(2026, 12, 1, 7), VN, dates=tuple(
        date.fromordinal(date(2026, 1, 1).toordinal() + i) for i in range(400))), "dates"),
    (lambda: Recurrence("daily", datetime(2026, 12, 1, 7), "Mars/Olympus"), "time zone"),
    (lambda: Recurrence("daily", datetime(2026, 12, 1, 7, tzinfo=UTC), VN), "wall-clock"),
    (lambda: Recurrence("daily", datetime(2026, 12, 1, 7), VN, until_local=date(2026, 11, 1)), "before"),
    (lambda: Recurrence("rrule", datetime(2026, 12, 1, 7), VN, rule="FREQ=MINUTELY"), "FREQ"),
    (lambda: Recurrence("rrule", datetime(2026, 12, 1, 7), VN, rule="FREQ=SECONDLY;INTERVAL=1"), "FREQ"),
    (lambda: Recurrence("rrule", datetime(2026, 12, 1, 7), VN, rule="FREQ=DAILY;BYDAY=XX"), "valid"),
    (lambda: Recurrence("rrule", datetime(2026, 12, 1, 7), VN, rule="DTSTART:20260101T000000"), "DTSTART"),
    (lambda: Recurrence("rrule", datetime(2026, 12, 1, 7), VN, rule="FREQ=DAILY\nRRULE:FREQ=DAILY"), "one"),
    (lambda: Recurrence("rrule", datetime(2026, 12, 1, 7), VN, rule="x" * 600), "500"),
    (lambda: Recurrence("rrule", datetime(2026, 12, 1, 7), VN, rule=""), "RRULE"),
])
def test_bad_recurrences_are_refused_with_the_reason(make: object, reason: str) -> None:
    with pytest.raises(RecurrenceError, match=reason):
        make()  # type: ignore[operator]


def test_more_than_48_plays_a_day_is_refused() -> None:
    every_five_minutes = ",".join(str(m) for m in range(0, 60, 5))
    rule = f"FREQ=HOURLY;BYMINUTE={every_five_minutes}"
    too_often = Recurrence("rrule", datetime(2026, 12, 1, 0, 0), VN, rule=rule)
    with pytest.raises(RecurrenceError, match="48"):
        too_often.between(ms("2026-12-01T00:00"), ms("2026-12-02T00:00"))


def test_the_next_play_after_an_instant() -> None:
    weekly = Recurrence("weekly", datetime(2026, 11, 30, 6, 0), VN, weekdays=(0,),
                        until_local=date(2026, 12, 14))
    assert utc(weekly.next_after(ms("2026-12-01T00:00")) or 0) == "2026-12-06 23:00 Sun"
    assert weekly.next_after(ms("2026-12-14T00:00")) is None, "after the last day"
    once = Recurrence("once", datetime(2030, 1, 7, 6, 0), VN)
    assert utc(once.next_after(ms("2026-12-01T00:00")) or 0) == "2030-01-06 23:00 Sun"
