"""Edition days and ISO weeks in DIGEST_TZ. `now` is always a parameter, never read here."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.errors import ConfigError

__all__ = [
    "WEEKDAYS",
    "day_bounds",
    "day_of",
    "days_of_week",
    "format_utc",
    "iso_week",
    "monday_of",
    "parse_day",
    "parse_iso_week",
    "parse_week",
    "show_utc",
    "today",
    "week_bounds",
    "week_days",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names as DIGEST_WEEKLY_AT and the scheduler spell them, Monday first (`date.weekday()`)."""


def day_of(moment: datetime, tz: ZoneInfo) -> date:
    """The calendar day of a UTC moment in `tz` (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).date()


def today(tz: ZoneInfo, now: datetime) -> date:
    """The edition day `now` falls on in `tz`: what every front door calls "today"."""
    return day_of(now, tz)


def _utc(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def format_utc(moment: datetime) -> str:
    """A moment as ISO 8601 in UTC for machines (JSON): '2026-04-01T09:30:00Z' (naive is UTC)."""
    return _utc(moment).isoformat().replace("+00:00", "Z")


def show_utc(moment: datetime) -> str:
    """A moment in UTC for people, to the minute: '2026-04-01 09:30 UTC' (naive is UTC)."""
    return _utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def monday_of(day: date) -> date:
    """The Monday of the ISO week `day` is in."""
    return day - timedelta(days=day.weekday())


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of `day` in `tz`, as aware UTC datetimes (how the database stores times)."""
    start = datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
    return start, end


def iso_week(day: date) -> str:
    """date(2026, 4, 1) → '2026-W14'."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_days(week: str) -> tuple[date, date]:
    """'2026-W14' → (Monday, Sunday)."""
    monday = parse_iso_week(week)
    return monday, monday + timedelta(days=6)


def days_of_week(week: str) -> list[date]:
    """'2026-W14' → its seven days, Monday first."""
    monday = parse_iso_week(week)
    return [monday + timedelta(days=i) for i in range(7)]


def week_bounds(week: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of an ISO week in `tz`, as aware UTC datetimes."""
    monday, sunday = week_days(week)
    return day_bounds(monday, tz)[0], day_bounds(sunday, tz)[1]


_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)
# Days whose window (in any time zone, the next day included) Python's dates can hold:
# 9999-12-31's end is year 10000, which `date` cannot represent (an OverflowError).
_FIRST, _LAST = date(1900, 1, 1), date(9998, 12, 31)


def _in_range(day: date, text: str, kind: str) -> date:
    if not _FIRST <= day <= _LAST:
        raise ConfigError(
            f"{kind} out of range: {text!r} (the digest covers {_FIRST.year} to {_LAST.year})"
        )
    return day


def parse_iso_week(text: str) -> date:
    """'2026-W14' (or '2026W14') → that week's Monday; pure. Raises ConfigError otherwise."""
    match = _WEEK.match(text.strip())
    if match:
        year, week = int(match.group(1)), int(match.group(2))
        try:
            monday = date.fromisocalendar(year, week, 1)
        except ValueError:
            pass
        else:
            return _in_range(monday, text, "week")
    raise ConfigError(f"not a week: {text!r} (try 2026-W14, this or last)")


def parse_week(text: str, *, today: date) -> date:
    """'this' | 'last' | '2026-W14' → that week's Monday. Raises ConfigError otherwise."""
    value = text.strip().lower()
    if value in ("this", "current", ""):
        return monday_of(today)
    if value in ("last", "previous"):
        return monday_of(today) - timedelta(days=7)
    return parse_iso_week(text)


def parse_day(text: str, *, today: date) -> date:
    """'today' | 'yesterday' | '2026-04-01' → a date. Raises ConfigError otherwise."""
    value = text.strip().lower()
    if value in ("today", ""):
        return today
    if value == "yesterday":
        return today - timedelta(days=1)
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"not a date: {text!r} (try 2026-04-01, today or yesterday)") from None
    return _in_range(day, text, "date")
