"""Due dates as clinicians type them: "tomorrow", "+2w", "in 3 days", "next Monday", "3/12",
"2025-06-10"; what the app's own rules cannot read goes to ``EntryContext.read_date`` (the
services hand in a fuller reader, month names in the clinician's language), and what nobody can
read is refused with examples of what to type. A date without a year is the next one to come.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

from app.domain.entry import DateOrder, EntryContext, EntryRefused

_WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
_WEEKDAY_ABBREVIATIONS = {name[:3].lower(): i for i, name in enumerate(calendar.day_name)}
_UNIT_WORDS = {
    "d": "d", "day": "d", "days": "d",
    "w": "w", "wk": "w", "wks": "w", "week": "w", "weeks": "w",
    "m": "m", "mo": "m", "mos": "m", "month": "m", "months": "m",
    "y": "y", "yr": "y", "yrs": "y", "year": "y", "years": "y",
}  # fmt: skip
_OFFSET = re.compile(r"^(?:\+|in\s+)?(\d{1,3})\s*([a-z]+)(?:\s+from\s+(?:now|today))?$")
_NUMERIC = re.compile(r"^(\d{1,4})[/.\-](\d{1,2})(?:[/.\-](\d{1,4}))?\.?$")
EXAMPLES = "tomorrow, +2w, in 3 days, next Monday or 3/12/2026"


def parse_due(text: str, ctx: EntryContext) -> date | None:
    """The date ``text`` means, seen from ``ctx.today``; None for an empty text."""
    typed = " ".join(text.strip().lower().split())
    if not typed:
        return None
    if typed[-1] in "/.-+" and not typed.endswith("."):
        raise EntryRefused(f"“{text.strip()}” is not a whole date; type {EXAMPLES}.")
    found = _relative(typed, ctx.today) or _numeric(typed, ctx)
    if found is None and ctx.read_date is not None:
        found = ctx.read_date(text.strip(), ctx.today)
    if found is None:
        raise EntryRefused(f"“{text.strip()}” is not a date the app can read; type {EXAMPLES}.")
    return found


def _relative(typed: str, today: date) -> date | None:
    words = {"today": 0, "tod": 0, "now": 0, "tomorrow": 1, "tmrw": 1, "tom": 1}
    if typed in words:
        return today + timedelta(days=words[typed])
    if typed in ("next week", "in a week", "1 week"):
        return today + timedelta(weeks=1)
    if typed in ("next month", "in a month"):
        return add_months(today, 1)
    match = _OFFSET.match(typed)
    if match is not None and match.group(2) in _UNIT_WORDS:
        return _add(today, int(match.group(1)), _UNIT_WORDS[match.group(2)])
    day_name = typed.removeprefix("next ").removeprefix("this ").removeprefix("on ")
    weekday = _WEEKDAYS.get(day_name, _WEEKDAY_ABBREVIATIONS.get(day_name))
    if weekday is not None:
        ahead = (weekday - today.weekday()) % 7 or 7  # the next one after today
        return today + timedelta(days=ahead)
    return None


def _add(today: date, count: int, unit: str) -> date:
    if unit == "d":
        return today + timedelta(days=count)
    if unit == "w":
        return today + timedelta(weeks=count)
    return add_months(today, count * (12 if unit == "y" else 1))


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, the day clamped to the month's end (31 Jan + 1 = 28 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _numeric(typed: str, ctx: EntryContext) -> date | None:
    match = _NUMERIC.match(typed)
    if match is None:
        return None
    first, second, third = match.group(1), match.group(2), match.group(3)
    try:
        if len(first) == 4 or ctx.date_order is DateOrder.YEAR_FIRST:
            if third is None:
                return None
            return date(_year(first, ctx.today), int(second), int(third))
        month, day = (first, second) if ctx.date_order is DateOrder.MONTH_FIRST else (second, first)
        if third is not None:
            return date(_year(third, ctx.today), int(month), int(day))
        return _next_on(int(month), int(day), ctx.today)
    except ValueError as exc:
        raise EntryRefused(
            f"“{typed}” is not a date in the calendar ({_order_words(ctx)}); type {EXAMPLES}."
        ) from exc


def _year(text: str, today: date) -> int:
    return int(text) if len(text) > 2 else 2000 + int(text)


def _next_on(month: int, day: int, today: date) -> date:
    """The next ``month``/``day`` on or after today (a due date without a year is ahead)."""
    year = today.year
    for _ in range(9):  # 29 February comes back within eight years
        try:
            candidate = date(year, month, day)
        except ValueError:
            if (month, day) != (2, 29):
                raise
            candidate = None
        if candidate is not None and candidate >= today:
            return candidate
        year += 1
    raise ValueError(f"no {month}/{day} ahead")


def _order_words(ctx: EntryContext) -> str:
    return {
        DateOrder.MONTH_FIRST: "month/day",
        DateOrder.DAY_FIRST: "day/month",
        DateOrder.YEAR_FIRST: "year-month-day",
    }[ctx.date_order]


def due_words(day: date, today: date) -> str:
    """ "Thursday 15 May 2025 (tomorrow)": the resolved date, shown before it is accepted."""
    days = (day - today).days
    if days == 0:
        when = "today"
    elif days == 1:
        when = "tomorrow"
    elif days == -1:
        when = "yesterday, in the past"
    elif days < 0:
        when = f"{-days} days ago, in the past"
    elif days % 7 == 0 and days <= 70:
        when = f"in {days // 7} week{'s' if days > 7 else ''}"
    else:
        when = f"in {days} days"
    return f"{calendar.day_name[day.weekday()]} {day.day} {calendar.month_name[day.month]} {day.year} ({when})"
