"""Days and ISO weeks in DIGEST_TZ."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from core.dates import (
    day_bounds,
    day_of,
    days_of_week,
    format_utc,
    iso_week,
    monday_of,
    parse_day,
    parse_iso_week,
    parse_week,
    show_utc,
    today,
    week_days,
)
from core.errors import ConfigError

TODAY = date(2026, 4, 1)  # a Wednesday in ISO week 14


def test_a_late_evening_post_in_new_york_belongs_to_that_day() -> None:
    moment = datetime(2026, 4, 2, 2, 30, tzinfo=UTC)
    assert day_of(moment, ZoneInfo("America/New_York")) == date(2026, 4, 1)
    assert day_of(moment, ZoneInfo("UTC")) == date(2026, 4, 2)


def test_day_bounds_are_utc_and_follow_dst() -> None:
    start, end = day_bounds(date(2026, 3, 29), ZoneInfo("Europe/London"))  # clocks go forward
    assert start == datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 29, 23, 0, tzinfo=UTC)


def test_weeks() -> None:
    assert iso_week(TODAY) == "2026-W14"
    assert week_days("2026-W14") == (date(2026, 3, 30), date(2026, 4, 5))
    assert parse_week("this", today=TODAY) == date(2026, 3, 30)
    assert parse_week("last", today=TODAY) == date(2026, 3, 23)
    assert parse_week("2026-w01", today=TODAY) == date(2025, 12, 29)


@pytest.mark.parametrize("text", ["2026-W99", "week 3", "2026-W00"])
def test_a_bad_week_is_refused_in_plain_words(text: str) -> None:
    with pytest.raises(ConfigError, match="not a week"):
        parse_week(text, today=TODAY)


def test_days() -> None:
    assert parse_day("today", today=TODAY) == TODAY
    assert parse_day("yesterday", today=TODAY) == date(2026, 3, 31)
    assert parse_day("2026-03-27", today=TODAY) == date(2026, 3, 27)
    with pytest.raises(ConfigError, match="not a date"):
        parse_day("yesterday-ish", today=TODAY)


def test_today_is_the_edition_day_of_now() -> None:
    now = datetime(2026, 4, 2, 2, 30, tzinfo=UTC)
    assert today(ZoneInfo("America/New_York"), now) == date(2026, 4, 1)
    assert today(ZoneInfo("Asia/Tokyo"), now) == date(2026, 4, 2)


def test_an_iso_week_parses_without_a_today() -> None:
    assert parse_iso_week("2026-W14") == date(2026, 3, 30)
    assert parse_iso_week("2026w14") == date(2026, 3, 30)
    with pytest.raises(ConfigError, match="not a week: 'last'"):
        parse_iso_week("last")  # relative weeks need parse_week's `today`
    with pytest.raises(ConfigError, match="not a week"):
        parse_iso_week("2026-W54")


def test_a_week_has_seven_days_from_monday() -> None:
    days = days_of_week("2026-W01")
    assert days[0] == date(2025, 12, 29) == monday_of(date(2026, 1, 4))
    assert days[-1] == date(2026, 1, 4)
    assert len(days) == 7 and all(iso_week(d) == "2026-W01" for d in days)


def test_timestamps_are_written_in_utc() -> None:
    moment = datetime(2026, 4, 1, 11, 30, 5, tzinfo=ZoneInfo("Europe/Berlin"))
    assert format_utc(moment) == "2026-04-01T09:30:05Z"
    assert show_utc(moment) == "2026-04-01 09:30 UTC"
    assert format_utc(datetime(2026, 4, 1, 9, 30)) == "2026-04-01T09:30:00Z"  # naive is UTC
