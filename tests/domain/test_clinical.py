from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from app.domain.clinical import (
    AdministrativeSex,
    EncounterStatus,
    PatientSummary,
    Reference,
    bounded_decimal,
    html_to_text,
)
from tests.domain.conftest import make_context


def patient(birth: date | None) -> PatientSummary:
    return PatientSummary("p", "A B", "B", ("A",), birth, AdministrativeSex.parse("x"), None)


@pytest.mark.parametrize(
    ("at", "age"),
    [
        (date(2025, 4, 11), 56),
        (date(2025, 4, 12), 57),
        (date(1968, 4, 12), 0),
        (date(1968, 4, 11), None),
    ],
)
def test_age_counts_completed_years(at: date, age: int | None) -> None:
    assert patient(date(1968, 4, 12)).age(at) == age


def test_age_without_birth_date_is_unknown() -> None:
    p = patient(None)
    assert p.age(date(2025, 1, 1)) is None
    assert p.sex is AdministrativeSex.UNKNOWN


def test_leap_day_birthday() -> None:
    p = patient(date(2000, 2, 29))
    assert p.age(date(2001, 2, 28)) == 0
    assert p.age(date(2001, 3, 1)) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Patient/pat-1", ("Patient", "pat-1")),
        ("http://x/fhir/Encounter/enc-1", ("Encounter", "enc-1")),
        ("http://x/fhir/Encounter/enc-1/_history/3", ("Encounter", "enc-1")),
        ("pat-1", None),
        ("#contained", None),
        ("patient/1", None),
        ("", None),
    ],
)
def test_reference_parse(text: str, expected: tuple[str, str] | None) -> None:
    ref = Reference.parse(text)
    assert (None if ref is None else (ref.resource_type, ref.id)) == expected


def test_encounter_status_accepts_r5_names() -> None:
    assert EncounterStatus.parse("completed") is EncounterStatus.FINISHED
    assert EncounterStatus.parse("weird") is EncounterStatus.UNKNOWN


def test_display_values() -> None:
    ctx = make_context()
    bp = next(v for v in ctx.vitals.items if v.id == "obs-bp-1")
    hr = next(v for v in ctx.vitals.items if v.id == "obs-hr-1")
    assert bp.display_value == "142/88 mmHg"
    assert hr.display_value == "78 bpm"  # not "78 /min": units as clinicians write them


@pytest.mark.parametrize(
    "value", ["1e999999999", "NaN", "Infinity", float("inf"), True, "abc", 10**40, None]
)
def test_bounded_decimal_refuses_absurd_numbers(value: object) -> None:
    assert bounded_decimal(value) is None


def test_bounded_decimal_keeps_measurements() -> None:
    assert bounded_decimal(37.1) == Decimal("37.1")
    assert bounded_decimal("0.5") == Decimal("0.5")


def test_html_to_text_drops_markup_and_scripts() -> None:
    markup = '<div xmlns="http://www.w3.org/1999/xhtml"><p>BP &lt; 140</p><script>alert(1)</script><p>OK</p></div>'
    assert html_to_text(markup) == "BP < 140\nOK"


def test_prior_note_plain_text_from_xhtml() -> None:
    note = make_context().notes.items[0]
    assert note.plain_text() == note.text
    from dataclasses import replace

    xhtml = replace(note, text="<div><p>Hello</p></div>", content_type="application/xhtml+xml")
    assert xhtml.plain_text() == "Hello"


def test_chart_measurements_read_in_clinician_words() -> None:
    from app.domain.clinical import Coding, Measurement, MeasurementComponent, MeasurementKind

    loinc = "http://loinc.org"
    temp = Measurement("t", MeasurementKind.VITAL_SIGN, Coding(loinc, "8310-5", "Body temperature"),
                       "Body temperature", Decimal("37.1"), "Cel", None, unit_text="C")  # fmt: skip
    assert (temp.name, temp.display_value) == ("Temperature", "37.1 °C")
    bp = Measurement(
        "b", MeasurementKind.VITAL_SIGN,
        Coding(loinc, "85354-9", "Blood pressure panel with all children optional"),
        "Blood pressure panel with all children optional", None, None, None,
        components=(
            MeasurementComponent(Coding(loinc, "8480-6"), "Systolic", Decimal(142), "mm[Hg]"),
            MeasurementComponent(Coding(loinc, "8462-4"), "Diastolic", Decimal(88), "mm[Hg]"),
        ),
    )  # fmt: skip
    assert (bp.name, bp.display_value) == ("Blood pressure", "142/88 mmHg")
    odd = Measurement("x", MeasurementKind.LABORATORY, None, "Something", Decimal(3), "mg", None)
    assert (odd.name, odd.display_value) == ("Something", "3 mg")
