"""What clinicians type into item cells: numbers in their locale, quantities with units, blood
pressures, due dates and task owners; bad input is refused with words saying what to type."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from app.domain.clinical import Reference
from app.domain.due_dates import due_words, parse_due
from app.domain.entry import (
    DateOrder,
    DecimalMark,
    EntryContext,
    EntryRefused,
    parse_number,
    parse_pair,
    parse_quantity,
    pick_owner,
)
from app.domain.items.observation import OBSERVATION, ObservationItem
from app.domain.owners import OwnerCandidate, OwnerSource, merge_candidates
from app.domain.terminology import terminology

TODAY = date(2025, 5, 14)  # a Wednesday
US = EntryContext(today=TODAY)
DE = EntryContext(today=TODAY, decimal_mark=DecimalMark.COMMA, date_order=DateOrder.DAY_FIRST)


def refused(call, *args) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(EntryRefused) as caught:
        call(*args)
    return caught.value.words


def test_numbers_in_either_locale() -> None:
    assert parse_number("37.5", US) == Decimal("37.5")
    assert parse_number("37,5", DE) == Decimal("37.5")
    assert parse_number("37.5", DE) == Decimal("37.5")  # a decimal point is not ambiguous there
    assert "type the decimal with a point: 37.5" in refused(parse_number, "37,5", US)
    assert "type 1200 without a separator" in refused(parse_number, "1,200", US)
    assert "not a number" in refused(parse_number, "abc", US)


def test_quantities_with_units_as_typed() -> None:
    terms = terminology()
    temp = terms.concept("8310-5")
    assert parse_quantity("98.6 F", temp, terms, US) == (Decimal("98.6"), "[degF]")
    assert parse_quantity("37,5 °C", temp, terms, DE) == (Decimal("37.5"), "Cel")
    assert parse_quantity("37.5", temp, terms, US) == (Decimal("37.5"), None)
    words = refused(parse_quantity, "37.5 kg", temp, terms, US)
    assert words == "“kg” is not a unit for temperature; type °C or °F."


def test_blood_pressure_as_one_entry() -> None:
    assert parse_pair("142/88", US) == (Decimal(142), Decimal(88))
    assert parse_pair(" 142 / 88 mmHg", US) == (Decimal(142), Decimal(88))
    for bad in ("142/", "142", "/88", "142/abc"):
        assert "two numbers with a slash, e.g. 142/88" in refused(parse_pair, bad, US)


def test_a_blood_pressure_row_takes_142_over_88() -> None:
    value = next(c for c in OBSERVATION.columns if c.field == "value")
    row = value.apply(ObservationItem("o1", "", "", None, None), "142/88", US)
    assert row.loinc_code == "85354-9" and row.display == "Blood pressure"
    assert [(c.loinc_code, c.value, c.unit) for c in row.components] == [
        ("8480-6", Decimal(142), "mm[Hg]"),
        ("8462-4", Decimal(88), "mm[Hg]"),
    ]
    assert value.get(row) == "142/88"
    assert OBSERVATION.render(row) == "Blood pressure: 142/88 mmHg"
    assert "e.g. 142/88" in refused(value.apply, row, "142/", US)


def test_an_observation_is_picked_by_name_abbreviation_or_code() -> None:
    name = OBSERVATION.columns[0]
    blank = ObservationItem("o1", "", "", None, None)
    by_code = name.apply(blank, "8867-4", US)
    assert (by_code.loinc_code, by_code.display, by_code.unit) == ("8867-4", "Heart rate", "/min")
    assert name.apply(blank, "Heart rate", US) == by_code
    assert name.apply(blank, "a1c", US).loinc_code == "4548-4"
    assert "pick from the list" in refused(name.apply, blank, "zzz", US)
    assert "its last digit does not check" in refused(name.apply, blank, "8867-5", US)
    unit = next(c for c in OBSERVATION.columns if c.field == "unit")
    assert unit.get(by_code) == "bpm"
    temp = name.apply(blank, "8310-5", US)
    assert unit.apply(temp, "F", US).unit == "[degF]"
    assert "type °C or °F" in refused(unit.apply, temp, "stone", US)


@pytest.mark.parametrize(
    ("typed", "ctx", "expected"),
    [
        ("tomorrow", US, date(2025, 5, 15)),
        ("+2w", US, date(2025, 5, 28)),
        ("in 3 days", US, date(2025, 5, 17)),
        ("next Monday", US, date(2025, 5, 19)),
        ("fri", US, date(2025, 5, 16)),
        ("3/12", US, date(2026, 3, 12)),  # month first; the next 12 March
        ("3/12", DE, date(2025, 12, 3)),  # day first
        ("12.3.", DE, date(2026, 3, 12)),
        ("2025-06-10", US, date(2025, 6, 10)),
        ("+1m", US, date(2025, 6, 14)),
    ],
)
def test_due_dates_as_clinicians_type_them(typed: str, ctx: EntryContext, expected: date) -> None:
    assert parse_due(typed, ctx) == expected


def test_due_dates_that_cannot_be_read_say_what_to_type() -> None:
    for bad in ("3/", "someday", "31/2"):
        words = refused(parse_due, bad, DE)
        assert "type tomorrow, +2w" in words
    assert parse_due("", US) is None
    fuller = replace(
        US, read_date=lambda text, today: date(2025, 6, 1) if text == "1 June" else None
    )
    assert parse_due("1 June", fuller) == date(2025, 6, 1)
    assert due_words(date(2025, 5, 15), TODAY) == "Thursday 15 May 2025 (tomorrow)"
    assert due_words(date(2025, 5, 28), TODAY) == "Wednesday 28 May 2025 (in 2 weeks)"


JONES = OwnerCandidate(Reference("Practitioner", "prac-2", None), "Dr. Sam Jones", "Nurse",
                       OwnerSource.CARE_TEAM)  # fmt: skip
LEE = OwnerCandidate(
    Reference("Practitioner", "prac-3"), "Dr. Kim Lee", None, OwnerSource.DIRECTORY
)
LEE_HERE = replace(LEE, source=OwnerSource.ENCOUNTER)


def test_owners_are_picked_by_name_and_listed_once_best_source_first() -> None:
    owners = merge_candidates([JONES, LEE], [LEE_HERE])
    assert owners == (LEE_HERE, JONES)
    ctx = replace(US, owners=owners)
    assert pick_owner("Dr. Jones", ctx) == Reference("Practitioner", "prac-2", "Dr. Sam Jones")
    assert pick_owner("jones", ctx) == pick_owner("sam j", ctx) == pick_owner("nurse", ctx)
    assert pick_owner("Practitioner/prac-9", ctx) == Reference("Practitioner", "prac-9")
    assert pick_owner("", ctx) is None
    assert refused(pick_owner, "dr", ctx) == (
        "“dr” fits 2 people (Dr. Kim Lee, Dr. Sam Jones); pick one from the list."
    )
    doctors = [replace(LEE, reference=Reference("Practitioner", f"p{i}"), name=f"Dr. {n} Lee")
               for i, n in enumerate(["Ann", "Bo", "Cy", "Di"])]  # fmt: skip
    assert refused(pick_owner, "dr", replace(US, owners=tuple(doctors))) == (
        "“dr” fits 4 people (Dr. Ann Lee, Dr. Bo Lee, Dr. Cy Lee and 1 more); "
        "pick one from the list."
    )
    assert "No one called “Dr. Who”" in refused(pick_owner, "Dr. Who", ctx)
