"""Observation concepts of the bundled terminology, as test cases."""

from __future__ import annotations

from decimal import Decimal

from app.domain.terminology import terminology


def plausible_cases() -> list[tuple[str, str, Decimal, Decimal]]:
    """(LOINC code, default unit, plausible low, plausible high) of every measured concept."""
    return [
        (c.code, c.default_unit, c.plausible.low, c.plausible.high)
        for c in sorted(terminology().concepts.values(), key=lambda c: c.code)
        if c.plausible is not None and c.plausible.low is not None and c.plausible.high is not None
    ]
