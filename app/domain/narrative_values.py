"""Values a note's narrative states for a known observation: "HR 78/min", "BP 142/88 mmHg",
"Heart rate: 78 beats/minute", "sats 97% on air", "Temp 98.6 F".

:func:`find_mentions` finds them in one section's text: a name of a known observation (its
LOINC display, a common name or abbreviation, :data:`NAMES`), then on the same line a short
separator (":", "=", "is", "was", "of", a parenthesis such as "(resting)"), a number (two for
blood pressure) and, optionally, a unit as notes write it (:data:`WRITTEN_UNITS`). A name
written with capitals ("HR", "BP", "Hb") is matched in that spelling only, so the hours in
"for 2 hr" are not a heart rate; an all-lowercase name matches in any case.

:func:`same_value` compares a written value with a recorded one, converting units where that
is a matter of arithmetic (°F/°C, lb/kg/g, in/cm/m) and allowing for the precision written
(78 matches 78.4 but not 79; 98.6 °F matches 37 °C). Units that need the analyte (glucose in mg/dL and
mmol/L) are not converted: such a pair is not compared.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache

from app.domain.terminology import Concept, known_observation, terminology

SYSTOLIC, DIASTOLIC, PANEL = "8480-6", "8462-4", "85354-9"
BLOOD_PRESSURE = (SYSTOLIC, DIASTOLIC)

# What notes call the known observations besides their name and LOINC display, by LOINC code
# (the terminology's synonyms are search terms for the picker, too short for running text:
# "t", "p", "k").
NAMES: dict[str, tuple[str, ...]] = {
    "8867-4": ("heart rate", "pulse rate", "pulse", "HR"),
    "9279-1": ("respiratory rate", "respiration rate", "resp rate", "respirations", "RR"),
    "8310-5": ("body temperature", "temperature", "temp"),
    "29463-7": ("body weight", "weight", "wt"),
    "8302-2": ("body height", "height", "ht"),
    "39156-5": ("body mass index", "BMI", "bmi"),
    "59408-5": (
        "oxygen saturation",
        "o2 saturation",
        "o2 sats",
        "o2 sat",
        "sats",
        "SpO2",
        "SPO2",
        "spo2",
        "pulse ox",
        "pulse oximetry",
    ),
    "2708-6": ("SaO2", "arterial oxygen saturation"),
    "2339-0": ("blood glucose", "glucose", "blood sugar", "BG", "BSL"),
    "4548-4": ("HbA1c", "hba1c", "A1c", "a1c", "hemoglobin A1c", "haemoglobin A1c"),
    "2160-0": ("creatinine", "creat", "Cr"),
    "2823-3": ("potassium", "K+"),
    "718-7": ("hemoglobin", "haemoglobin", "Hb", "Hgb", "HGB"),
    "18262-6": ("LDL cholesterol", "LDL-C", "LDL"),
    SYSTOLIC: ("systolic blood pressure", "systolic BP", "systolic", "SBP"),
    DIASTOLIC: ("diastolic blood pressure", "diastolic BP", "diastolic", "DBP"),
}
# Names of the pair "systolic/diastolic" ("BP 142/88").
BLOOD_PRESSURE_NAMES = (
    "blood pressure panel with all children optional",
    "blood pressure panel",
    "blood pressure",
    "BP",
    "bp",
    "B/P",
)

# Units as notes write them -> UCUM (matched case-insensitively, longest first).
WRITTEN_UNITS: dict[str, str] = {
    "beats per minute": "/min",
    "beats/minute": "/min",
    "beats/min": "/min",
    "breaths per minute": "/min",
    "breaths/minute": "/min",
    "breaths/min": "/min",
    "bpm": "/min",
    "per min": "/min",
    "/minute": "/min",
    "/min": "/min",
    "mm[hg]": "mm[Hg]",
    "mm hg": "mm[Hg]",
    "mmhg": "mm[Hg]",
    "°c": "Cel",
    "ºc": "Cel",
    "deg c": "Cel",
    "degrees c": "Cel",
    "cel": "Cel",
    "c": "Cel",
    "°f": "[degF]",
    "ºf": "[degF]",
    "deg f": "[degF]",
    "degrees f": "[degF]",
    "[degf]": "[degF]",
    "f": "[degF]",
    "kg/m2": "kg/m2",
    "kg/m²": "kg/m2",
    "kgs": "kg",
    "kg": "kg",
    "lbs": "[lb_av]",
    "lb": "[lb_av]",
    "[lb_av]": "[lb_av]",
    "g": "g",
    "cm": "cm",
    "inches": "[in_i]",
    "[in_i]": "[in_i]",
    "in": "[in_i]",
    "m": "m",
    "%": "%",
    "mg/dl": "mg/dL",
    "mmol/l": "mmol/L",
    "µmol/l": "umol/L",
    "umol/l": "umol/L",
    "meq/l": "meq/L",
    "g/dl": "g/dL",
    "g/l": "g/L",
}

# Units convertible by arithmetic: UCUM -> (to the base unit, from the base unit).
_Convert = tuple[Callable[[Decimal], Decimal], Callable[[Decimal], Decimal]]
_CONVERSIONS: dict[str, _Convert] = {
    "Cel": (lambda v: v, lambda v: v),
    "[degF]": (lambda v: (v - 32) * 5 / 9, lambda v: v * 9 / 5 + 32),
    "kg": (lambda v: v, lambda v: v),
    "g": (lambda v: v / 1000, lambda v: v * 1000),
    "[lb_av]": (lambda v: v * Decimal("0.45359237"), lambda v: v / Decimal("0.45359237")),
    "cm": (lambda v: v, lambda v: v),
    "m": (lambda v: v * 100, lambda v: v / 100),
    "[in_i]": (lambda v: v * Decimal("2.54"), lambda v: v / Decimal("2.54")),
}
_DIMENSION = {
    "Cel": "temperature",
    "[degF]": "temperature",
    "kg": "mass",
    "g": "mass",
    "[lb_av]": "mass",
    "cm": "length",
    "m": "length",
    "[in_i]": "length",
}


@dataclass(frozen=True)
class Mention:
    """A value the narrative states: ``text[start:end]`` is the whole mention ("HR 78/min"),
    ``text[value_start:value_end]`` the value as written ("78/min")."""

    section_key: str
    start: int
    end: int
    value_start: int
    value_end: int
    codes: tuple[str, ...]  # LOINC of each value (blood pressure: systolic, diastolic)
    values: tuple[Decimal, ...]
    unit: str | None  # UCUM of the written unit; None when none was written or understood
    name: str  # the name as written ("HR")
    written: str  # the value as written ("78/min")
    text: str  # the whole mention as written ("HR 78/min")


_Node = dict[str, "_Node"]  # a trie of characters ("" marks the end of a name)


def _trie(names: list[str]) -> str:
    """One regular expression for ``names`` as a trie ("h(?:eart rate|emoglobin)|..."): each
    position of the text fails at its first character instead of trying every name, which
    keeps the check fast on long notes. A longer name wins over its prefix."""
    root: _Node = {}
    for name in names:
        node = root
        for char in name:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: _Node) -> str:
        branches = [
            ("[ \t]+" if char == " " else re.escape(char)) + build(child)
            for char, child in sorted(node.items(), key=lambda kv: kv[0])
            if char
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(root)


def _written_names(concept: Concept) -> tuple[str, ...]:
    """The concept's name as running text writes it ("heart rate", "HbA1c") and its LOINC
    display ("glucose [mass/volume] in blood")."""
    return (concept.in_sentence, concept.display.lower())


@cache
def _pattern() -> tuple[re.Pattern[str], dict[str, str]]:
    """The names' pattern and each name's code, built on first use: compiling it takes tens
    of milliseconds, which the app's start-up does not pay (docs/performance.md)."""
    names: dict[str, str] = {}
    for code, written in NAMES.items():
        for name in written:
            names.setdefault(name, code)
    for concept in terminology().concepts.values():
        if not concept.is_panel:
            for name in _written_names(concept):
                names.setdefault(name, concept.code)
    for name in BLOOD_PRESSURE_NAMES:
        names[name] = "bp"
    folded = [n for n in names if n == n.lower()]  # matched in any case
    cased = [n for n in names if n != n.lower()]  # "HR", "Hb": matched as written
    alternatives = f"(?i:{_trie(folded)})|{_trie(cased)}"
    units = "|".join(
        re.escape(u).replace(r"\ ", "[ \t]*") for u in sorted(WRITTEN_UNITS, key=len, reverse=True)
    )
    return re.compile(
        rf"(?<![\w+/])(?P<name>{alternatives})(?![\w+])"
        r"(?P<gap>[ \t]*(?:\([^()\n]{0,30}\)[ \t]*)?"
        r"(?:[:=\u2013-]|(?i:is|was|of|now)(?![\w]))?[ \t]*)"
        r"(?P<value>(?P<num>\d{1,6}(?:\.\d{1,6})?)(?![\d.]\d)"
        r"(?:[ \t]*/[ \t]*(?P<num2>\d{1,6}(?:\.\d{1,6})?))?"
        rf"(?:[ \t]*(?P<unit>(?i:{units})))?)(?![\w²])",
    ), names


def find_mentions(section_key: str, text: str) -> Iterator[Mention]:
    """Every value ``text`` states for a known observation, in order."""
    pattern, name_codes = _pattern()
    for match in pattern.finditer(text):
        name = match.group("name")
        code = name_codes.get(name) or name_codes.get(" ".join(name.lower().split()))
        if code is None:
            continue
        try:
            first = Decimal(match.group("num"))
            second = Decimal(match.group("num2")) if match.group("num2") else None
        except InvalidOperation:  # pragma: no cover - the pattern only lets digits through
            continue
        if code == "bp":
            if second is None:
                continue
            codes: tuple[str, ...] = BLOOD_PRESSURE
            values: tuple[Decimal, ...] = (first, second)
        elif second is not None:
            continue  # "97/98" for anything but blood pressure: not a value to compare
        else:
            codes, values = (code,), (first,)
        unit = _unit(codes[0], match.group("unit"))
        value_end = match.end("value")
        if match.group("unit") and unit is None:
            value_end = match.end("num2") if match.group("num2") else match.end("num")
        yield Mention(
            section_key=section_key,
            start=match.start(),
            end=value_end,
            value_start=match.start("value"),
            value_end=value_end,
            codes=codes,
            values=values,
            unit=unit,
            name=name,
            written=text[match.start("value") : value_end],
            text=text[match.start() : value_end],
        )


def _unit(code: str, written: str | None) -> str | None:
    """The UCUM unit of a written unit, if it is a unit of this observation (or convertible
    to one); "in" after a heart rate is a preposition, not inches."""
    if not written:
        return None
    ucum = WRITTEN_UNITS.get(" ".join(written.lower().split()))
    known = known_observation(code)
    if ucum is None or known is None:
        return None
    if ucum in known.units or any(comparable(ucum, u) for u in known.units):
        return ucum
    return None


def comparable(unit_a: str, unit_b: str) -> bool:
    """The same unit, or two units arithmetic converts between."""
    return unit_a == unit_b or (
        unit_a in _DIMENSION and _DIMENSION.get(unit_a) == _DIMENSION.get(unit_b)
    )


def convert(value: Decimal, unit: str, to: str) -> Decimal | None:
    """``value`` in ``unit`` expressed in ``to``; None when they do not convert."""
    if unit == to:
        return value
    if not comparable(unit, to):
        return None
    to_base = _CONVERSIONS[unit][0]
    from_base = _CONVERSIONS[to][1]
    return from_base(to_base(value))


def same_value(
    written: Decimal,
    written_unit: str | None,
    recorded: Decimal,
    recorded_unit: str | None,
    code: str,
) -> bool | None:
    """Whether a written value agrees with a recorded one, allowing for the precision of each.
    A written value without a unit agrees when it agrees in any unit of the observation.
    None: they cannot be compared (units that need the analyte to convert)."""
    if recorded_unit is None:
        return None
    known = known_observation(code)
    candidates = (
        [written_unit] if written_unit else [recorded_unit, *(known.units if known else ())]
    )
    comparable_seen = False
    for unit in dict.fromkeys(candidates):
        converted = convert(written, unit, recorded_unit) if unit else None
        upper = convert(written + _half_step(written), unit, recorded_unit) if unit else None
        if converted is None or upper is None:
            continue
        comparable_seen = True
        # the written value stands for anything that rounds to it; a converted one also
        # for the rounding of the recorded value in its own unit
        slack = abs(upper - converted) + (_half_step(recorded) if unit != recorded_unit else 0)
        if abs(converted - recorded) <= slack:
            return True
    return False if comparable_seen else None


def _half_step(value: Decimal) -> Decimal:
    """Half of the last digit written: 78 -> 0.5, 37.2 -> 0.05."""
    exponent = value.as_tuple().exponent
    return Decimal(5).scaleb((exponent if isinstance(exponent, int) else 0) - 1)
