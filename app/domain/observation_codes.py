"""The observations the app knows: LOINC code, UCUM units, plausible limits and usual ranges.

Used by validation before approval (is the value possible at all? is it unusual?) and by the
write-back mapping (Observation category, display text of a unit). A code that is not in
:data:`KNOWN_OBSERVATIONS` may still be written; validation only warns about it.

Two ranges per unit:

- *plausible* limits: outside them the value is almost certainly a typing or unit mistake
  (a heart rate of 720, a temperature of 98.6 in ``Cel``); approval is blocked.
- the *usual* range: outside it the value is possible but unusual; approval is allowed and the
  review decision carries a risk flag so the clinician confirms it deliberately.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum


class ObservationCategory(Enum):
    """Codes of http://terminology.hl7.org/CodeSystem/observation-category."""

    VITAL_SIGNS = "vital-signs"
    LABORATORY = "laboratory"

    @property
    def display(self) -> str:
        return {"vital-signs": "Vital Signs", "laboratory": "Laboratory"}[self.value]


@dataclass(frozen=True)
class UnitRange:
    plausible_low: Decimal
    plausible_high: Decimal
    usual_low: Decimal | None = None
    usual_high: Decimal | None = None

    def plausible(self, value: Decimal) -> bool:
        return self.plausible_low <= value <= self.plausible_high

    def usual(self, value: Decimal) -> bool:
        low_ok = self.usual_low is None or value >= self.usual_low
        high_ok = self.usual_high is None or value <= self.usual_high
        return low_ok and high_ok


@dataclass(frozen=True)
class KnownObservation:
    code: str
    display: str
    category: ObservationCategory
    units: dict[str, UnitRange]  # UCUM code -> ranges in that unit; the first is the default


def _r(
    low: str, high: str, usual_low: str | None = None, usual_high: str | None = None
) -> UnitRange:
    return UnitRange(
        Decimal(low),
        Decimal(high),
        Decimal(usual_low) if usual_low is not None else None,
        Decimal(usual_high) if usual_high is not None else None,
    )


_V = ObservationCategory.VITAL_SIGNS
_L = ObservationCategory.LABORATORY

KNOWN_OBSERVATIONS: dict[str, KnownObservation] = {
    o.code: o
    for o in (
        KnownObservation(
            "8480-6", "Systolic blood pressure", _V, {"mm[Hg]": _r("20", "300", "90", "140")}
        ),
        KnownObservation(
            "8462-4", "Diastolic blood pressure", _V, {"mm[Hg]": _r("10", "200", "60", "90")}
        ),
        KnownObservation("8867-4", "Heart rate", _V, {"/min": _r("10", "300", "50", "100")}),
        KnownObservation("9279-1", "Respiratory rate", _V, {"/min": _r("2", "80", "12", "20")}),
        KnownObservation(
            "8310-5",
            "Body temperature",
            _V,
            {"Cel": _r("25", "45", "36.1", "37.8"), "[degF]": _r("77", "113", "97", "100")},
        ),
        KnownObservation(
            "29463-7",
            "Body weight",
            _V,
            {"kg": _r("0.2", "650"), "[lb_av]": _r("0.5", "1430"), "g": _r("200", "650000")},
        ),
        KnownObservation(
            "8302-2",
            "Body height",
            _V,
            {"cm": _r("20", "280"), "[in_i]": _r("8", "110"), "m": _r("0.2", "2.8")},
        ),
        KnownObservation("39156-5", "Body mass index", _V, {"kg/m2": _r("5", "150", "18.5", "30")}),
        KnownObservation(
            "59408-5",
            "Oxygen saturation by pulse oximetry",
            _V,
            {"%": _r("20", "100", "95", "100")},
        ),
        KnownObservation(
            "2708-6", "Oxygen saturation in arterial blood", _V, {"%": _r("20", "100", "95", "100")}
        ),
        KnownObservation(
            "2339-0",
            "Glucose [Mass/volume] in Blood",
            _L,
            {"mg/dL": _r("10", "2000", "70", "140"), "mmol/L": _r("0.5", "111", "3.9", "7.8")},
        ),
        KnownObservation(
            "4548-4",
            "Hemoglobin A1c/Hemoglobin.total in Blood",
            _L,
            {"%": _r("2", "25", "4", "5.6")},
        ),
        KnownObservation(
            "2160-0",
            "Creatinine [Mass/volume] in Serum or Plasma",
            _L,
            {"mg/dL": _r("0.05", "30", "0.6", "1.3"), "umol/L": _r("4.4", "2650", "53", "115")},
        ),
        KnownObservation(
            "2823-3",
            "Potassium [Moles/volume] in Serum or Plasma",
            _L,
            {"mmol/L": _r("1", "12", "3.5", "5.1"), "meq/L": _r("1", "12", "3.5", "5.1")},
        ),
        KnownObservation(
            "718-7",
            "Hemoglobin [Mass/volume] in Blood",
            _L,
            {"g/dL": _r("1", "25", "12", "17.5"), "g/L": _r("10", "250", "120", "175")},
        ),
        KnownObservation(
            "18262-6",
            "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay",
            _L,
            {"mg/dL": _r("1", "1000", None, "130"), "mmol/L": _r("0.03", "26", None, "3.4")},
        ),
    )
}

# How each UCUM code is shown to people (FHIR Quantity.unit); the UCUM code itself is the fallback.
UNIT_DISPLAY: dict[str, str] = {
    "mm[Hg]": "mmHg",
    "/min": "/min",
    "Cel": "°C",
    "[degF]": "°F",
    "kg": "kg",
    "[lb_av]": "lb",
    "g": "g",
    "cm": "cm",
    "[in_i]": "in",
    "m": "m",
    "kg/m2": "kg/m2",
    "%": "%",
    "mg/dL": "mg/dL",
    "mmol/L": "mmol/L",
    "umol/L": "µmol/L",
    "meq/L": "mEq/L",
    "g/dL": "g/dL",
    "g/L": "g/L",
}

_LOINC_FORMAT = re.compile(r"^(\d{1,7})-(\d)$")
# UCUM codes are printable ASCII without spaces (UCUM spec, section 1).
_UCUM_CHARS = re.compile(r"^[\x21-\x7e]{1,40}$")


def loinc_check_digit(number: str) -> int:
    """The LOINC mod-10 check digit of the digits before the dash (the Luhn algorithm)."""
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


def looks_like_ucum(unit: str) -> bool:
    """A cheap syntax check for units of codes the app does not know (no full UCUM parser)."""
    return bool(_UCUM_CHARS.match(unit))


def known_observation(code: str) -> KnownObservation | None:
    return KNOWN_OBSERVATIONS.get(code)


def unit_display(ucum: str) -> str:
    return UNIT_DISPLAY.get(ucum, ucum)
