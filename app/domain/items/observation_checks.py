"""Validation of observation items: a real LOINC code, a unit of the observation, a value that
is possible (blocking) and usual (a warning), a time that is not in the future, and systolic
above diastolic."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from decimal import Decimal

from app.domain.items.kind import ItemCheck
from app.domain.items.observation_values import DIASTOLIC, SYSTOLIC, ObservationItem, name_of
from app.domain.items.parts import format_number
from app.domain.terminology import (
    Concept,
    RangeVerdict,
    is_valid_loinc,
    looks_like_ucum,
    terminology,
)
from app.domain.validation_problems import (
    MAX_ITEM_TEXT_CHARS,
    ProblemKind,
    ValidationProblem,
    check_text,
    error,
    warning,
)

MAX_DECIMAL_PLACES = 6
FUTURE_TOLERANCE = timedelta(minutes=5)  # clock skew between laptop and EHR


def check_observation(item: ObservationItem, ctx: ItemCheck) -> Iterable[ValidationProblem]:
    base = f"item:{item.item_id}"
    name = name_of(item) or item.loinc_code or "the observation"
    concept: Concept | None = None
    if not item.loinc_code:  # a new row: one thing to do first
        yield error(
            f"{base}:code",
            ProblemKind.LOINC_FORMAT,
            "Choose the observation: type part of its name (e.g. bp, heart rate, a1c) and "
            "pick from the list.",
        )
        return
    if not is_valid_loinc(item.loinc_code):
        yield error(
            f"{base}:code",
            ProblemKind.LOINC_FORMAT,
            f"“{item.loinc_code}” is not a LOINC code (a code reads 12345-6, its last digit a "
            "check digit); pick the observation by name: type part of it, e.g. heart rate.",
        )
    else:
        concept = item.concept
        if concept is None:
            yield warning(
                f"{base}:code",
                ProblemKind.UNKNOWN_CODE,
                f"LOINC {item.loinc_code} is not one the app knows, so its value and unit were "
                "not checked; make sure they are right.",
            )
    if item.note is not None:
        yield from check_text(f"{base}:note", "The comment", item.note, MAX_ITEM_TEXT_CHARS)
    if concept is not None and concept.is_panel:
        yield from _check_panel(base, name, item, concept)
        return
    yield from _check_unit(base, name, item.unit, concept)
    yield from _check_value(f"{base}:value", name, item.value, item.unit, concept)
    if item.effective is not None:
        if item.effective.tzinfo is None or item.effective.utcoffset() is None:
            yield error(
                f"{base}:effective",
                ProblemKind.EFFECTIVE_TIME,
                f"The time of {name} has no time zone; enter it again.",
            )
        elif ctx.now is not None and item.effective > ctx.now + FUTURE_TOLERANCE:
            yield error(
                f"{base}:effective",
                ProblemKind.EFFECTIVE_TIME,
                f"The time of {name} is in the future; correct the date and time.",
            )


def _check_panel(
    base: str, name: str, item: ObservationItem, panel: Concept
) -> Iterable[ValidationProblem]:
    terms = terminology()
    values = {c.loinc_code: c for c in item.components}
    if not all(code in values and values[code].value is not None for code in panel.components):
        yield error(
            f"{base}:value",
            ProblemKind.VALUE_MISSING,
            f"Enter the {name.lower()} as two numbers with a slash, e.g. 142/88.",
        )
        return
    for code in panel.components:
        part = values[code]
        concept = terms.concept(code)
        yield from _check_unit(base, part.display, part.unit, concept)
        yield from _check_value(f"{base}:value", part.display, part.value, part.unit, concept)
    systolic, diastolic = values.get(SYSTOLIC), values.get(DIASTOLIC)
    s_value = systolic.value if systolic else None
    d_value = diastolic.value if diastolic else None
    if s_value is not None and d_value is not None and s_value <= d_value:
        yield error(
            f"{base}:value",
            ProblemKind.INCONSISTENT_VALUES,
            f"{format_number(s_value)}/{format_number(d_value)}: the first "
            "number is the systolic pressure and must be the higher; check the order.",
        )


def _check_unit(
    base: str, name: str, unit: str | None, concept: Concept | None
) -> Iterable[ValidationProblem]:
    terms = terminology()
    if not unit:
        hint = f"type {_units(concept)}" if concept else "type a UCUM unit such as mg/dL"
        yield error(f"{base}:unit", ProblemKind.UNIT_INVALID, f"Choose a unit for {name}: {hint}.")
        return
    if concept is not None:
        if unit not in concept.units:
            shown = terms.shown_unit(unit) or unit
            yield error(
                f"{base}:unit",
                ProblemKind.UNIT_INVALID,
                f"“{shown}” is not a unit for {concept.in_sentence}; use {_units(concept)}.",
            )
    elif not looks_like_ucum(unit):
        yield error(
            f"{base}:unit",
            ProblemKind.UNIT_INVALID,
            f"“{unit}” is not a UCUM unit code (no spaces, e.g. mm[Hg], /min, mg/dL); "
            "correct the unit.",
        )


def _units(concept: Concept | None) -> str:
    if concept is None:
        return "a unit"
    terms = terminology()
    return " or ".join(dict.fromkeys(terms.shown_unit(u, concept) or u for u in concept.units))


def _check_value(
    path: str, name: str, value: Decimal | None, unit: str | None, concept: Concept | None
) -> Iterable[ValidationProblem]:
    if value is None:
        yield error(path, ProblemKind.VALUE_MISSING, f"Enter a value for {name}.")
        return
    if not value.is_finite():
        yield error(path, ProblemKind.VALUE_IMPLAUSIBLE, f"The value of {name} is not a number.")
        return
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMAL_PLACES:
        yield error(
            path,
            ProblemKind.VALUE_IMPLAUSIBLE,
            f"The value of {name} has more than {MAX_DECIMAL_PLACES} decimal places; round it.",
        )
        return
    terms = terminology()
    verdict = terms.verdict(concept, value, unit) if concept and unit else None
    if verdict is None:
        if value.adjusted() > 12:
            yield error(
                path, ProblemKind.VALUE_IMPLAUSIBLE, f"The value of {name} is implausibly large."
            )
        return
    assert concept is not None and unit is not None
    shown = f"{format_number(value)} {terms.shown_unit(unit, concept)}".strip()
    what = concept.in_sentence
    if verdict is RangeVerdict.IMPLAUSIBLE and concept.plausible is not None:
        limits = terms.range_in(concept, concept.plausible, unit)
        yield error(
            path,
            ProblemKind.VALUE_IMPLAUSIBLE,
            f"{shown} is not a possible {what} (possible: {limits}); check the value and the unit.",
        )
    elif verdict is RangeVerdict.UNUSUAL and concept.usual is not None:
        usual = terms.range_in(concept, concept.usual, unit)
        yield warning(
            path,
            ProblemKind.VALUE_UNUSUAL,
            f"{shown} is outside the usual range for {what} ({usual}); confirm it is right.",
        )


def check_blood_pressure(observations: Sequence[ObservationItem]) -> Iterable[ValidationProblem]:
    """Separate systolic and diastolic items (a draft file may carry them): systolic higher."""
    systolic = [o for o in observations if o.loinc_code == SYSTOLIC and o.value is not None]
    diastolic = [o for o in observations if o.loinc_code == DIASTOLIC and o.value is not None]
    if len(systolic) == 1 and len(diastolic) == 1:
        s, d = systolic[0], diastolic[0]
        if s.value is not None and d.value is not None and s.value <= d.value:
            yield warning(
                f"item:{d.item_id}:value",
                ProblemKind.INCONSISTENT_VALUES,
                "The diastolic pressure is not lower than the systolic; check both values.",
            )
