"""A small cron matcher and duration parser for calendar freezes.

Five fields, as in crontab(5): minute (0-59), hour (0-23), day of month (1-31), month (1-12 or
jan-dec) and day of week (0-7 or sun-sat, 0 and 7 both Sunday). Each field is ``*`` or a comma
list of ``N``, ``A-B``, ``*/S``, ``A-B/S`` or ``A/S`` (from A to the field's maximum, step S).
The aliases ``@hourly``, ``@daily``/``@midnight``, ``@weekly``, ``@monthly`` and
``@yearly``/``@annually`` are accepted too.

As in Vixie cron, when both day of month and day of week are restricted (neither starts with
``*``) a day matches if *either* does; otherwise both must. Matching works on naive wall-clock
datetimes at minute resolution: the caller converts to the timezone the expression is meant in.

Durations are written as one or more ``<integer><unit>`` parts, units ``w d h m``: ``62h``,
``1d12h``, ``90m``.

Exceptions: ``CronError`` and ``DurationError``, both ``ValueError``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

__all__ = [
    "CronError",
    "CronSpec",
    "DurationError",
    "format_duration",
    "next_match",
    "parse_cron",
    "parse_duration",
    "previous_match",
]

_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_MONTHS = {n.lower(): i for i, n in enumerate(calendar.month_abbr) if n}
_WEEKDAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
# name, lowest, highest, names
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _WEEKDAYS),
)
# Far enough back or ahead to meet any satisfiable expression (29 February can be 8 years away).
_SEARCH_DAYS = 366 * 9


class CronError(ValueError):
    """A cron expression that cannot be parsed or can never match."""


class DurationError(ValueError):
    """A duration string that cannot be parsed."""


@dataclass(frozen=True)
class CronSpec:
    """A parsed cron expression; weekdays use cron numbering (0 = Sunday)."""

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_restricted: bool
    weekdays_restricted: bool

    def day_matches(self, day: date) -> bool:
        """Whether any minute of ``day`` can match (month, day of month, day of week)."""
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.weekday() + 1) % 7 in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays

    def matches(self, moment: datetime) -> bool:
        """Whether the wall-clock minute of ``moment`` matches the expression."""
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and self.day_matches(moment.date())
        )


def _parse_value(text: str, field: str, names: dict[str, int]) -> int:
    key = text.lower()
    if key in names:
        return names[key]
    if not text.isdigit():
        raise CronError(f"{field}: {text!r} is not a number")
    return int(text)


def _parse_field(text: str, index: int) -> set[int]:
    field, low, high, names = _FIELDS[index]
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{field}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _parse_value(a, field, names), _parse_value(b, field, names)
        elif base:
            start = _parse_value(base, field, names)
            end = high if step_text else start
        else:
            raise CronError(f"{field}: empty list item in {text!r}")
        if not (low <= start <= high and low <= end <= high):
            raise CronError(f"{field}: {part!r} is outside {low}-{high}")
        if start > end:
            raise CronError(f"{field}: range {part!r} runs backwards")
        values.update(range(start, end + 1, step))
    return values


def parse_cron(expression: str) -> CronSpec:
    """Parse a 5-field cron expression (or an ``@`` alias); raise CronError if invalid."""
    text = _ALIASES.get(expression.strip().lower(), expression.strip())
    parts = text.split()
    if len(parts) != 5:
        raise CronError(
            f"cron expression {expression!r} must have 5 fields "
            "(minute hour day-of-month month day-of-week), e.g. '0 18 * * 5'"
        )
    try:
        minutes, hours, days, months, weekdays = (_parse_field(p, i) for i, p in enumerate(parts))
    except CronError as exc:
        raise CronError(f"cron expression {expression!r}: {exc}") from exc
    if 7 in weekdays:
        weekdays = (weekdays - {7}) | {0}
    spec = CronSpec(
        expression=expression,
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=frozenset(weekdays),
        days_restricted=not parts[2].startswith("*"),
        weekdays_restricted=not parts[4].startswith("*"),
    )
    if not spec.weekdays_restricted and not any(
        d <= (29 if m == 2 else calendar.monthrange(2001, m)[1]) for m in months for d in days
    ):
        raise CronError(f"cron expression {expression!r} names a day that never exists")
    return spec


def next_match(spec: CronSpec, start: datetime) -> datetime | None:
    """The first matching wall-clock minute at or after ``start`` (naive), or None."""
    if start.second or start.microsecond:
        start = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = start.date()
    for _ in range(_SEARCH_DAYS):
        if spec.day_matches(day):
            for hour in spec.hours:
                for minute in spec.minutes:
                    candidate = datetime(day.year, day.month, day.day, hour, minute)
                    if candidate >= start:
                        return candidate
        day += timedelta(days=1)
    return None


def previous_match(
    spec: CronSpec, end: datetime, not_before: datetime | None = None
) -> datetime | None:
    """The last matching wall-clock minute at or before ``end`` (naive), or None.

    ``not_before`` bounds the search, so a caller that only cares about recent matches does not
    walk back years for a rare expression.
    """
    end = end.replace(second=0, microsecond=0)
    day = end.date()
    floor = not_before.date() if not_before is not None else day - timedelta(days=_SEARCH_DAYS)
    while day >= floor:
        if spec.day_matches(day):
            for hour in reversed(spec.hours):
                for minute in reversed(spec.minutes):
                    candidate = datetime(day.year, day.month, day.day, hour, minute)
                    if candidate <= end:
                        if not_before is not None and candidate < not_before:
                            return None
                        return candidate
        day -= timedelta(days=1)
    return None


_DURATION_PART = re.compile(r"(\d+)([wdhm])")
_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1)}


def parse_duration(text: str) -> timedelta:
    """Parse ``62h``, ``2d``, ``1d12h``, ``90m``, ``1w``; raise DurationError if invalid."""
    compact = text.strip().lower().replace(" ", "")
    pos, total = 0, timedelta()
    for match in _DURATION_PART.finditer(compact):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS.get(match.group(2), timedelta(minutes=1))
        pos = match.end()
    if not compact or pos != len(compact):
        raise DurationError(
            f"duration {text!r} is not valid: write e.g. '62h', '2d', '1d12h' or '90m'"
        )
    if total <= timedelta():
        raise DurationError(f"duration {text!r} must be longer than zero")
    return total


def format_duration(value: timedelta) -> str:
    """Write a duration the way parse_duration reads it (``62h``, ``2d``, ``1d30m``)."""
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days and not mins and hours:
        # 62h reads better than 2d14h for freezes that span a weekend evening to morning.
        return f"{days * 24 + hours}h"
    text = (
        (f"{days}d" if days else "") + (f"{hours}h" if hours else "") + (f"{mins}m" if mins else "")
    )
    return text or "0m"
