"""The observation item itself: a LOINC-coded measurement with a UCUM unit, or a panel (blood
pressure) whose value is its components; and the one plain line it reads as in a note."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.domain.clinical import Coding
from app.domain.items.parts import format_number
from app.domain.terminology import Concept, terminology

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SYSTOLIC, DIASTOLIC, BLOOD_PRESSURE = "8480-6", "8462-4", "85354-9"


@dataclass(frozen=True)
class ObservationComponent:
    """One part of a panel: the systolic pressure of a blood pressure."""

    loinc_code: str
    display: str
    value: Decimal | None
    unit: str | None  # UCUM code


@dataclass(frozen=True)
class ObservationItem:
    """A measurement the clinician records with the note (LOINC code, value, UCUM unit); a
    panel (blood pressure 85354-9) carries its values as ``components`` instead."""

    item_id: str
    loinc_code: str
    display: str  # what clinicians call it: "Heart rate"
    value: Decimal | None
    unit: str | None  # UCUM code, e.g. "mm[Hg]", "/min", "kg"
    effective: datetime | None = None
    note: str | None = None
    components: tuple[ObservationComponent, ...] = ()

    @property
    def code(self) -> Coding:
        return Coding(LOINC, self.loinc_code, self.display)

    @property
    def concept(self) -> Concept | None:
        return terminology().concept(self.loinc_code) if self.loinc_code else None


def value_words(item: ObservationItem) -> str:
    """ "142/88 mmHg", "78 bpm", "37.1 °C"; "" while nothing was entered."""
    terms, concept = terminology(), item.concept
    if item.components:
        values = [format_number(c.value) if c.value is not None else "?" for c in item.components]
        units = {c.unit for c in item.components if c.unit}
        unit = terms.shown_unit(units.pop(), concept) if len(units) == 1 else ""
        return "/".join(values) + (f" {unit}" if unit else "")
    if item.value is None:
        return ""
    unit = terms.shown_unit(item.unit, concept)
    return format_number(item.value) + (f" {unit}" if unit else "")


def name_of(item: ObservationItem) -> str:
    concept = item.concept
    return item.display or (concept.name if concept else "")


def render(item: ObservationItem) -> str:
    """``Heart rate: 96 bpm``; ``Blood pressure: 142/88 mmHg``; ``Heart rate: no value``."""
    name = name_of(item) or f"LOINC {item.loinc_code}"
    line = f"{name}: {value_words(item) or 'no value'}"
    return line + (f" ({item.note.strip()})" if item.note and item.note.strip() else "")
