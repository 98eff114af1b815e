"""FHIR date values as UTC ranges (app.sandbox.fhir.dates)."""

from __future__ import annotations

import pytest

from app.sandbox.fhir.dates import HIGHEST, LOWEST, DateRange, http_date, parse_range, period_range


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("2024", "2024-01-01T00:00:00.000000", "2025-01-01T00:00:00.000000"),
        ("2024-12", "2024-12-01T00:00:00.000000", "2025-01-01T00:00:00.000000"),
        ("2024-02-29", "2024-02-29T00:00:00.000000", "2024-03-01T00:00:00.000000"),
        ("2024-03-01T10:00", "2024-03-01T10:00:00.000000", "2024-03-01T10:01:00.000000"),
        ("2024-03-01T10:00:05Z", "2024-03-01T10:00:05.000000", "2024-03-01T10:00:06.000000"),
        ("2024-03-01T10:00:05.25Z", "2024-03-01T10:00:05.250000", "2024-03-01T10:00:05.260000"),
        ("2024-03-01T00:30:00+02:00", "2024-02-29T22:30:00.000000", "2024-02-29T22:30:01.000000"),
        ("9999", "9999-01-01T00:00:00.000000", HIGHEST),
    ],
)
def test_ranges(text: str, low: str, high: str) -> None:
    assert parse_range(text) == DateRange(low, high)


@pytest.mark.parametrize(
    "text", ["", "24", "2024-13", "2023-02-29", "2024-01-01T25:00:00Z", "yesterday", "2024-1-1"]
)
def test_invalid_values(text: str) -> None:
    assert parse_range(text) is None


def test_periods_may_be_open() -> None:
    assert period_range({"start": "2024-01-01"}) == DateRange("2024-01-01T00:00:00.000000", HIGHEST)
    assert period_range({"end": "2024-01-01"}) == DateRange(LOWEST, "2024-01-02T00:00:00.000000")
    assert period_range({}) is None


def test_http_date() -> None:
    assert http_date("2024-03-01T10:00:05.123Z") == "Fri, 01 Mar 2024 10:00:05 GMT"
