"""FHIR date, dateTime and instant values as UTC ranges, for indexing and date search.

A value stands for the whole interval its precision implies: ``2024-03`` is every instant of
March 2024. Ranges are half-open ``[low, high)`` and stored as fixed-width ISO strings in UTC
(``2024-03-01T00:00:00.000000``) so SQLite compares them as text. A value without a time zone
is read as UTC (the sandbox's own time zone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo

LOWEST = "0001-01-01T00:00:00.000000"
HIGHEST = "9999-12-31T23:59:59.999999"
_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"

_DATE_RX = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d+))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


@dataclass(frozen=True)
class DateRange:
    low: str  # inclusive
    high: str  # exclusive


def _fmt(value: datetime) -> str:
    return value.astimezone(UTC).strftime(_FORMAT)


def _add_months(value: datetime, months: int) -> datetime:
    month_index = value.month - 1 + months
    return value.replace(year=value.year + month_index // 12, month=month_index % 12 + 1)


def parse_range(text: str) -> DateRange | None:
    """The range a FHIR date/dateTime/instant denotes, or None when ``text`` is not one."""
    m = _DATE_RX.match(text.strip())
    if not m:
        return None
    tz: tzinfo = UTC
    if m["tz"] and m["tz"] != "Z":
        sign = 1 if m["tz"][0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(m["tz"][1:3]), minutes=int(m["tz"][4:6])))
    fraction = (m["f"] or "")[:6]
    try:  # month 13, February 30th, hour 25 ... are not dates
        start = datetime(
            int(m["y"]),
            int(m["m"] or 1),
            int(m["d"] or 1),
            int(m["H"] or 0),
            int(m["M"] or 0),
            int(m["S"] or 0),
            int(fraction.ljust(6, "0")) if fraction else 0,
            tzinfo=tz,
        )
    except ValueError:
        return None
    try:
        if m["m"] is None:
            end = start.replace(year=start.year + 1)
        elif m["d"] is None:
            end = _add_months(start, 1)
        elif m["H"] is None:
            end = start + timedelta(days=1)
        elif m["S"] is None:
            end = start + timedelta(minutes=1)
        else:
            end = start + timedelta(microseconds=10 ** (6 - len(fraction)) if fraction else 10**6)
        high = _fmt(end)
    except (ValueError, OverflowError):  # the year 9999
        high = HIGHEST
    return DateRange(_fmt(start), high)


def period_range(period: dict[str, object]) -> DateRange | None:
    """The range of a FHIR Period; a missing start or end is open."""
    start, end = period.get("start"), period.get("end")
    low_range = parse_range(start) if isinstance(start, str) else None
    high_range = parse_range(end) if isinstance(end, str) else None
    if low_range is None and high_range is None:
        return None
    return DateRange(
        low_range.low if low_range else LOWEST,
        high_range.high if high_range else HIGHEST,
    )


def now_instant() -> str:
    """The current time as a FHIR instant with milliseconds, for ``meta.lastUpdated``."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def http_date(instant: str) -> str:
    """An RFC 9110 date (``Last-Modified``) from a FHIR instant."""
    rng = parse_range(instant)
    moment = datetime.strptime(rng.low, _FORMAT) if rng else datetime.now(UTC)
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")
