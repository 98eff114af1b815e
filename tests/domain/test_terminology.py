"""The bundled terminology (resources/terminology/observations.json): its shape, its codes, its
units and its conversions, and the lookups the editor uses."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from fractions import Fraction

import pytest

from app._resources import resource_path
from app.domain.terminology import (
    TERMINOLOGY_FILE,
    ObservationCategory,
    RangeVerdict,
    UnitNotConvertible,
    is_valid_loinc,
    loinc_check_digit,
    looks_like_ucum,
    terminology,
)

RAW = json.loads(resource_path(*TERMINOLOGY_FILE).read_text(encoding="utf-8"))
TERMS = terminology()
CONCEPTS = sorted(TERMS.concepts.values(), key=lambda c: c.code)
EXACT = re.compile(r"^-?\d+(\.\d+)?(/\d+(\.\d+)?)?$")  # 5/9, 0.45359237, 1000/133.322387415

# The vital-signs profiles of FHIR R4 (http://hl7.org/fhir/R4/observation-vitalsigns.html)
VITAL_SIGNS = {"9279-1", "8867-4", "2708-6", "8310-5", "8302-2", "9843-4", "29463-7", "39156-5",
               "85354-9", "8480-6", "8462-4"}  # fmt: skip


def test_loinc_check_digit_follows_the_users_guide_example() -> None:
    # LOINC Users' Guide, appendix C: 12345 -> 5 (odd positions from the right doubled)
    assert loinc_check_digit("12345") == 5
    assert is_valid_loinc("8867-4") and not is_valid_loinc("8867-5")


def test_the_file_has_the_vital_signs_and_150_more() -> None:
    assert set(TERMS.concepts) >= VITAL_SIGNS
    others = [c for c in CONCEPTS if c.code not in VITAL_SIGNS]
    assert len(others) >= 150
    assert len(RAW["observations"]) == len(TERMS.concepts), "no code twice"


@pytest.mark.parametrize("concept", CONCEPTS, ids=lambda c: c.code)
def test_every_observation_is_complete_and_checked(concept) -> None:  # type: ignore[no-untyped-def]
    assert is_valid_loinc(concept.code), "the LOINC mod-10 check digit"
    assert concept.name.strip() and concept.display.strip() and concept.synonyms
    assert all(s == s.strip().lower() for s in concept.synonyms), "synonyms are typed in lower case"
    assert concept.units and len(set(concept.units)) == len(concept.units)
    for unit in concept.units:
        assert unit in TERMS.units, f"{unit} is declared in the units table"
        assert looks_like_ucum(unit)
        # every unit converts to the default one, and back again to the same value
        there = TERMS.convert(Decimal("12.5"), unit, concept.default_unit, concept)
        back = TERMS.convert(Decimal(there.numerator) / Decimal(there.denominator),
                             concept.default_unit, unit, concept)  # fmt: skip
        assert abs(back - Fraction("12.5")) < Fraction(1, 10**20)
    if concept.is_panel:
        assert all(TERMS.concept(code) for code in concept.components)
    else:
        assert concept.plausible is not None and concept.plausible.low is not None
        assert concept.plausible.high is not None and concept.plausible.low < concept.plausible.high
        if concept.usual is not None:  # the usual range lies inside the plausible one
            for bound in (concept.usual.low, concept.usual.high):
                assert bound is None or concept.plausible.holds(bound)
    assert concept.category in ObservationCategory


def test_units_have_exact_conversions_and_typed_forms_map_to_one_unit() -> None:
    seen: dict[str, str] = {}
    for unit in RAW["units"]:
        assert EXACT.match(unit["factor"]), unit["ucum"]
        assert EXACT.match(unit.get("offset", "0")), unit["ucum"]
        for form in unit["typed"]:
            key = form.lower().replace(" ", "").replace("µ", "u").replace("μ", "u")
            assert seen.setdefault(key, unit["ucum"]) == unit["ucum"], f"{form!r} means two units"


@pytest.mark.parametrize(
    ("code", "value", "source", "target", "expected"),
    [
        ("8310-5", "98.6", "[degF]", "Cel", "37.0"),
        ("8310-5", "37", "Cel", "[degF]", "98.6"),
        ("29463-7", "154", "[lb_av]", "kg", "69.9"),
        ("29463-7", "1", "[lb_av]", "kg", "0.45359237"),  # exact by definition
        ("8302-2", "70", "[in_i]", "cm", "177.8"),
        ("2345-7", "90", "mg/dL", "mmol/L", "5.0"),  # molar mass 180.156 g/mol
        ("2345-7", "5.5", "mmol/L", "mg/dL", "99"),
        ("2160-0", "1.0", "mg/dL", "umol/L", "88"),
        ("2093-3", "200", "mg/dL", "mmol/L", "5.2"),
        ("19123-9", "2", "meq/L", "mmol/L", "1.00"),  # magnesium is divalent
        ("2703-7", "10", "kPa", "mm[Hg]", "75"),
    ],
)
def test_known_conversions(code: str, value: str, source: str, target: str, expected: str) -> None:
    concept = TERMS.concept(code)
    assert concept is not None
    exact = TERMS.convert(Decimal(value), source, target, concept)
    assert TERMS.rounded(exact, len(expected.partition(".")[2])) == Decimal(expected)


def test_units_of_different_kinds_do_not_convert() -> None:
    heart_rate = TERMS.concept("8867-4")
    assert heart_rate is not None
    with pytest.raises(UnitNotConvertible):
        TERMS.convert(Decimal(1), "kg", "/min", heart_rate)


def test_units_as_clinicians_type_and_read_them() -> None:
    temp, hr, rr = TERMS.concept("8310-5"), TERMS.concept("8867-4"), TERMS.concept("9279-1")
    assert TERMS.unit_for("F", temp) == "[degF]" and TERMS.unit_for("°c", temp) == "Cel"
    assert TERMS.unit_for("kg", temp) is None, "a unit of another observation"
    assert TERMS.unit_for("mm Hg") == "mm[Hg]" and TERMS.unit_for("µmol/L") == "umol/L"
    assert TERMS.shown_unit("Cel", temp) == "°C"
    assert TERMS.shown_unit("/min", hr) == "bpm" and TERMS.shown_unit("/min", rr) == "breaths/min"
    assert TERMS.shown_unit("[pH]") == ""


def test_ranges_are_checked_in_the_unit_entered() -> None:
    temp = TERMS.concept("8310-5")
    assert temp is not None
    assert TERMS.verdict(temp, Decimal("98.6"), "[degF]") is RangeVerdict.USUAL
    assert TERMS.verdict(temp, Decimal("98.6"), "Cel") is RangeVerdict.IMPLAUSIBLE
    assert TERMS.verdict(temp, Decimal("38.5"), "Cel") is RangeVerdict.UNUSUAL
    assert temp.usual is not None
    assert TERMS.range_in(temp, temp.usual, "[degF]") == "97.0–100.0 °F"


def test_names_read_inside_sentences() -> None:
    assert TERMS.concepts["8867-4"].in_sentence == "heart rate"
    assert TERMS.concepts["4548-4"].in_sentence == "HbA1c"
    assert TERMS.concepts["39156-5"].in_sentence == "BMI"
