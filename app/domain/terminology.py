"""The observations the app knows, read from ``resources/terminology/observations.json``.

One source for every fact about an observation kind the clinician picks by name: its LOINC
code and display, the name clinicians use and their abbreviations (for the type-ahead), the
observation category, the UCUM units it may be recorded in (the first is the default; the
others convert exactly), how many decimals are shown, and two ranges in the default unit:

- *plausible* limits: outside them the value is almost certainly a typing or unit mistake
  (a heart rate of 720, a temperature of 98.6 in °C); approval is blocked.
- the *usual* range: outside it the value is possible but unusual; approval is allowed and the
  review decision carries a risk flag so the clinician confirms it deliberately.

A panel (blood pressure) lists its component codes instead of a value of its own.

Units convert exactly: each unit's ``factor``/``offset`` take it to its dimension's base unit
(``base = (value + offset) * factor``, rational numbers); substance and mass concentrations
convert through the analyte's molar mass, equivalents through its valence. A code not in the
file may still be written; validation only warns about it.

Pure and standard-library only: the file is bundled data, read once.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from enum import Enum
from fractions import Fraction
from functools import cache
from typing import Any

from app._resources import resource_path

TERMINOLOGY_FILE = ("terminology", "observations.json")


class ObservationCategory(Enum):
    """Codes of http://terminology.hl7.org/CodeSystem/observation-category."""

    VITAL_SIGNS = "vital-signs"
    LABORATORY = "laboratory"
    EXAM = "exam"
    SURVEY = "survey"

    @property
    def display(self) -> str:
        return _CATEGORY_DISPLAY[self]


_CATEGORY_DISPLAY = {
    ObservationCategory.VITAL_SIGNS: "Vital Signs",
    ObservationCategory.LABORATORY: "Laboratory",
    ObservationCategory.EXAM: "Exam",
    ObservationCategory.SURVEY: "Survey",
}


class RangeVerdict(Enum):
    USUAL = "usual"
    UNUSUAL = "unusual"  # possible; the clinician confirms
    IMPLAUSIBLE = "implausible"  # a typing or unit mistake


@dataclass(frozen=True)
class Unit:
    """A UCUM unit: its code, how clinicians read it, how they type it, and its conversion."""

    ucum: str
    shown: str  # "°C", "mmHg"; "" for dimensionless results (pH, INR, scores)
    dimension: str  # units convert within a dimension
    factor: Fraction  # base = (value + offset) * factor
    offset: Fraction = Fraction(0)
    typed: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValueRange:
    low: Decimal | None
    high: Decimal | None

    def holds(self, value: Decimal) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


@dataclass(frozen=True)
class Concept:
    """One observation the clinician can pick by name."""

    code: str  # LOINC
    name: str  # what clinicians call it: "Heart rate", "HbA1c"
    display: str  # the LOINC display, written as Coding.display
    category: ObservationCategory
    units: tuple[str, ...]  # UCUM codes; the first is the default
    decimals: int  # shown in the default unit
    plausible: ValueRange | None
    usual: ValueRange | None
    synonyms: tuple[str, ...] = ()
    components: tuple[str, ...] = ()  # a panel: the LOINC codes of its parts
    molar_mass: Fraction | None = None  # g/mol: mass <-> substance concentration
    valence: Fraction | None = None  # mEq <-> mmol
    unit_words: Mapping[str, str] = field(default_factory=dict)  # "/min" -> "bpm" for this one

    @property
    def default_unit(self) -> str:
        return self.units[0]

    @property
    def is_panel(self) -> bool:
        return bool(self.components)

    @property
    def in_sentence(self) -> str:
        """The name inside a sentence: "heart rate", but "HbA1c", "BMI", "pH (arterial)"."""
        first, _, rest = self.name.partition(" ")
        if len(first) > 1 and first[0].isupper() and first[1:].islower():
            first = first.lower()
        return f"{first} {rest}".strip()


class UnitNotConvertible(ValueError):
    """Two units of different dimensions without a molar mass or valence between them."""


class Terminology:
    """The bundled observations and units, with lookups by code, by typed unit and by name."""

    def __init__(self, concepts: Iterable[Concept], units: Iterable[Unit]) -> None:
        self.concepts: dict[str, Concept] = {c.code: c for c in concepts}
        self.units: dict[str, Unit] = {u.ucum: u for u in units}
        self._typed: dict[str, str] = {}
        for unit in self.units.values():
            for form in (unit.ucum, unit.shown, *unit.typed):
                if form:
                    self._typed.setdefault(_unit_key(form), unit.ucum)

    def concept(self, code: str) -> Concept | None:
        return self.concepts.get(code.strip())

    def unit_for(self, typed: str, concept: Concept | None = None) -> str | None:
        """The UCUM code of a unit as typed ("F", "°F", "lbs", "mmhg", "bpm"); with a concept,
        only one of its units (a UCUM annotation such as ``{FEU}`` may be left out)."""
        ucum = self._typed.get(_unit_key(typed))
        if ucum is None and typed.strip() in self.units:
            ucum = typed.strip()
        if concept is None or ucum is None or ucum in concept.units:
            return ucum
        bare = [u for u in concept.units if _without_annotation(u) == _without_annotation(ucum)]
        return bare[0] if len(bare) == 1 else None

    def shown_unit(self, ucum: str | None, concept: Concept | None = None) -> str:
        """How clinicians write the unit: "°C", "bpm" for a heart rate, "" for a pH."""
        if not ucum:
            return ""
        if concept is not None and ucum in concept.unit_words:
            return concept.unit_words[ucum]
        unit = self.units.get(ucum)
        return unit.shown if unit is not None else ucum

    def convert(self, value: Decimal, source: str, target: str, concept: Concept) -> Fraction:
        """``value`` in ``source`` expressed exactly in ``target`` (units of ``concept``)."""
        src, dst = self.units[source], self.units[target]
        base = (Fraction(value) + src.offset) * src.factor
        base = _across(base, src.dimension, dst.dimension, concept)
        return base / dst.factor - dst.offset

    def decimals_in(self, concept: Concept, ucum: str) -> int:
        """Decimals to show in ``ucum``: the concept's in its default unit, shifted by the
        order of magnitude between the two (mg/dL 0 -> mmol/L 1, °C 1 -> °F 1)."""
        if ucum == concept.default_unit or ucum not in self.units:
            return concept.decimals
        try:
            ratio = self.convert(Decimal(100), concept.default_unit, ucum, concept) - self.convert(
                Decimal(0), concept.default_unit, ucum, concept
            )
        except UnitNotConvertible:
            return concept.decimals
        shift = round(math.log10(abs(float(ratio)) / 100)) if ratio else 0
        return max(0, concept.decimals - shift)

    def rounded(self, value: Fraction, decimals: int) -> Decimal:
        quantum = Decimal(1).scaleb(-decimals)
        exact = Decimal(value.numerator) / Decimal(value.denominator)
        return exact.quantize(quantum, rounding=ROUND_HALF_EVEN)

    def verdict(self, concept: Concept, value: Decimal, ucum: str) -> RangeVerdict | None:
        """Where ``value`` in ``ucum`` falls in the concept's ranges (None: nothing to check)."""
        if concept.plausible is None or ucum not in concept.units:
            return None
        try:
            in_default = self.convert(value, ucum, concept.default_unit, concept)
        except UnitNotConvertible:
            return None
        exact = Decimal(in_default.numerator) / Decimal(in_default.denominator)
        if not concept.plausible.holds(exact):
            return RangeVerdict.IMPLAUSIBLE
        if concept.usual is not None and not concept.usual.holds(exact):
            return RangeVerdict.UNUSUAL
        return RangeVerdict.USUAL

    def range_in(self, concept: Concept, limits: ValueRange, ucum: str) -> str:
        """ "36.1–37.8 °C" or "97.0–100.0 °F": a range shown in the unit the clinician used."""
        decimals = self.decimals_in(concept, ucum)

        def end(bound: Decimal | None) -> str:
            if bound is None:
                return ""
            value = self.convert(bound, concept.default_unit, ucum, concept)
            return format(self.rounded(value, decimals), "f")

        low, high = end(limits.low), end(limits.high)
        text = f"{low}–{high}" if low and high else f"below {high}" if high else f"above {low}"
        shown = self.shown_unit(ucum, concept)
        return f"{text} {shown}".strip()


def _across(base: Fraction, source: str, target: str, concept: Concept) -> Fraction:
    """Move a value in ``source``'s base unit to ``target``'s, through molar mass or valence."""
    if source == target:
        return base
    mmol = _to_substance(base, source, concept)
    if target == "substance-concentration":
        return mmol
    if target == "mass-concentration" and concept.molar_mass is not None:
        return mmol * concept.molar_mass / 10  # mmol/L -> mg/dL
    if target == "equivalent-concentration" and concept.valence is not None:
        return mmol * concept.valence
    raise UnitNotConvertible(f"{source} -> {target} for {concept.code}")


def _to_substance(base: Fraction, source: str, concept: Concept) -> Fraction:
    if source == "substance-concentration":
        return base
    if source == "mass-concentration" and concept.molar_mass is not None:
        return base * 10 / concept.molar_mass  # mg/dL -> mmol/L
    if source == "equivalent-concentration" and concept.valence is not None:
        return base / concept.valence
    raise UnitNotConvertible(f"{source} for {concept.code}")


_ANNOTATION = re.compile(r"\{[^}]*\}")


def _without_annotation(ucum: str) -> str:
    return _ANNOTATION.sub("", ucum)


def _unit_key(text: str) -> str:
    """Units as typed compare without case, spaces or the micro sign."""
    key = text.strip().lower().replace("µ", "u").replace("μ", "u").replace(" ", "")
    return key


def exact_number(text: str) -> Fraction:
    """ "5/9", "0.45359237", "1000/133.322387415": a rational number written exactly."""
    numerator, _, denominator = text.partition("/")
    value = Fraction(Decimal(numerator))
    return value / Fraction(Decimal(denominator)) if denominator else value


def _range(raw: object) -> ValueRange | None:
    if not isinstance(raw, list):
        return None
    low, high = raw
    return ValueRange(
        Decimal(low) if low is not None else None, Decimal(high) if high is not None else None
    )


def concept_from(raw: Mapping[str, Any]) -> Concept:
    return Concept(
        code=raw["loinc"],
        name=raw["name"],
        display=raw["display"],
        category=ObservationCategory(raw["category"]),
        units=tuple(raw["units"]),
        decimals=int(raw["decimals"]),
        plausible=_range(raw.get("plausible")),
        usual=_range(raw.get("usual")),
        synonyms=tuple(raw.get("synonyms", ())),
        components=tuple(raw.get("components", ())),
        molar_mass=exact_number(raw["molar_mass"]) if "molar_mass" in raw else None,
        valence=exact_number(raw["valence"]) if "valence" in raw else None,
        unit_words=dict(raw.get("unit_words", {})),
    )


def unit_from(raw: Mapping[str, Any]) -> Unit:
    return Unit(
        ucum=raw["ucum"],
        shown=raw["shown"],
        dimension=raw["dimension"],
        factor=exact_number(raw["factor"]),
        offset=exact_number(raw.get("offset", "0")),
        typed=tuple(raw.get("typed", ())),
    )


def read_terminology(data: Mapping[str, Any]) -> Terminology:
    return Terminology(
        (concept_from(c) for c in data["observations"]), (unit_from(u) for u in data["units"])
    )


@cache
def terminology() -> Terminology:
    """The bundled terminology (read once)."""
    path = resource_path(*TERMINOLOGY_FILE)
    return read_terminology(json.loads(path.read_text(encoding="utf-8")))


# ---------------------------------------------------------------- codes

_LOINC_FORMAT = re.compile(r"^(\d{1,7})-(\d)$")
# UCUM codes are printable ASCII without spaces (UCUM spec, section 1).
_UCUM_CHARS = re.compile(r"^[\x21-\x7e]{1,40}$")


def loinc_check_digit(number: str) -> int:
    """The LOINC mod-10 check digit of the digits before the dash (LOINC Users' Guide,
    appendix C: the Luhn algorithm)."""
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 0:  # the rightmost digit and every second one from there are doubled
            digit *= 2
            digit = digit - 9 if digit > 9 else digit
        total += digit
    return (10 - total % 10) % 10


def is_valid_loinc(code: str) -> bool:
    """``nnnnn-c`` with a correct check digit."""
    match = _LOINC_FORMAT.match(code)
    if match is None:
        return False
    return loinc_check_digit(match.group(1)) == int(match.group(2))


def looks_like_loinc(text: str) -> bool:
    """Typed like a code (digits, a dash, one digit), whatever its check digit."""
    return _LOINC_FORMAT.match(text.strip()) is not None


def looks_like_ucum(unit: str) -> bool:
    """A cheap syntax check for units of codes the app does not know (no full UCUM parser)."""
    return bool(_UCUM_CHARS.match(unit))
