"""Vendor-independent chart data shown around a note: patient, encounter, problems, medications,
allergies, measurements (vital signs and laboratory results) and prior notes.

Only what the app displays or reasons about is kept; every field that a real EHR may omit is
optional. Instants are timezone-aware UTC ``datetime``; calendar dates (birth date, onset) are
``date`` (FHIR partial dates such as ``2015-06`` become the first day of that period).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Self

from app.domain.hidden_text import hidden_characters_warning, shown
from app.domain.markup_text import html_to_text
from app.domain.terminology import Concept, terminology


@dataclass(frozen=True)
class Coding:
    system: str | None
    code: str | None
    display: str | None = None


@dataclass(frozen=True)
class Reference:
    """A reference to another resource: ``resource_type``/``id`` plus a display text."""

    resource_type: str
    id: str
    display: str | None = None

    @property
    def relative(self) -> str:
        return f"{self.resource_type}/{self.id}"

    def same_target(self, other: Reference) -> bool:
        return (self.resource_type, self.id) == (other.resource_type, other.id)

    @staticmethod
    def parse(text: str, display: str | None = None) -> Reference | None:
        """``Type/id`` or an absolute URL ending in ``Type/id`` (``/_history/n`` dropped)."""
        parts = [p for p in text.split("?")[0].split("/") if p]
        if len(parts) >= 4 and parts[-2] == "_history":
            parts = parts[:-2]
        if len(parts) < 2 or not parts[-2][:1].isupper() or not parts[-1]:
            return None
        return Reference(parts[-2], parts[-1], display)


class _LenientEnum(Enum):
    """An Enum with an UNKNOWN member that ``parse`` falls back to: EHR data is messy, and an
    unexpected code must never break the chart."""

    @classmethod
    def parse(cls, value: object) -> Self:
        for member in cls:
            if member.value == value:
                return member
        return cls["UNKNOWN"]


class AdministrativeSex(_LenientEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class PatientSummary:
    """What the always-visible patient banner needs."""

    id: str
    name: str  # display form, "Maria Elena Garcia"; "(no name recorded)" when absent
    family: str | None
    given: tuple[str, ...]
    birth_date: date | None
    sex: AdministrativeSex
    mrn: str | None
    deceased: bool = False

    @property
    def reference(self) -> Reference:
        return Reference("Patient", self.id, self.name)

    @property
    def shown_name(self) -> str:
        """The name as displayed: hidden characters (app.domain.hidden_text) made visible."""
        return shown(self.name)

    @property
    def shown_mrn(self) -> str | None:
        return None if self.mrn is None else shown(self.mrn)

    @property
    def identity_warning(self) -> str | None:
        """Words when the name or MRN holds hidden characters (bidi or zero-width)."""
        return hidden_characters_warning({"name": self.name, "MRN": self.mrn})

    def age(self, at: date) -> int | None:
        """Age in completed years on ``at``; None without a birth date or before birth."""
        if self.birth_date is None or at < self.birth_date:
            return None
        b = self.birth_date
        return at.year - b.year - ((at.month, at.day) < (b.month, b.day))


class EncounterStatus(_LenientEnum):
    PLANNED = "planned"
    ARRIVED = "arrived"
    TRIAGED = "triaged"
    IN_PROGRESS = "in-progress"
    ON_LEAVE = "onleave"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: object) -> Self:
        aliases = {"completed": "finished", "on-hold": "onleave", "discharged": "finished"}
        return super().parse(aliases.get(str(value), value))  # R5 names


@dataclass(frozen=True)
class Participant:
    individual: Reference
    role: str | None = None


@dataclass(frozen=True)
class EncounterSummary:
    id: str
    status: EncounterStatus
    class_code: Coding | None  # AMB, IMP, VR (virtual), ...
    types: tuple[str, ...]
    period_start: datetime | None
    period_end: datetime | None
    locations: tuple[Reference, ...]
    participants: tuple[Participant, ...]
    subject: Reference | None
    reasons: tuple[str, ...] = ()
    service_provider: Reference | None = None

    @property
    def reference(self) -> Reference:
        return Reference("Encounter", self.id)

    @property
    def class_display(self) -> str | None:
        if self.class_code is None:
            return None
        return self.class_code.display or self.class_code.code


class ProblemStatus(_LenientEnum):
    ACTIVE = "active"
    RECURRENCE = "recurrence"
    RELAPSE = "relapse"
    INACTIVE = "inactive"
    REMISSION = "remission"
    RESOLVED = "resolved"
    UNKNOWN = "unknown"

    @property
    def is_active(self) -> bool:
        return self in (ProblemStatus.ACTIVE, ProblemStatus.RECURRENCE, ProblemStatus.RELAPSE)


@dataclass(frozen=True)
class Problem:
    id: str
    display: str
    code: Coding | None
    status: ProblemStatus
    onset: date | None = None
    recorded: date | None = None


@dataclass(frozen=True)
class Medication:
    id: str
    display: str
    code: Coding | None
    status: str | None
    dosage: str | None = None
    authored_on: date | None = None
    requester: Reference | None = None


class AllergyCriticality(_LenientEnum):
    LOW = "low"
    HIGH = "high"
    UNABLE_TO_ASSESS = "unable-to-assess"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Allergy:
    id: str
    display: str
    code: Coding | None
    clinical_status: str | None
    criticality: AllergyCriticality
    categories: tuple[str, ...] = ()
    reactions: tuple[str, ...] = ()


class MeasurementKind(Enum):
    VITAL_SIGN = "vital-signs"
    LABORATORY = "laboratory"


@dataclass(frozen=True)
class MeasurementComponent:
    code: Coding | None
    display: str
    value: Decimal | None
    unit: str | None
    value_text: str | None = None
    unit_text: str | None = None


@dataclass(frozen=True)
class Measurement:
    """A vital sign or laboratory result (one Observation), possibly with components (BP)."""

    id: str
    kind: MeasurementKind
    code: Coding | None  # LOINC where the EHR provides it
    display: str
    value: Decimal | None
    unit: str | None  # UCUM code where available, else the unit text
    effective: datetime | None
    status: str | None = None
    value_text: str | None = None  # non-numeric results ("positive", "see report")
    components: tuple[MeasurementComponent, ...] = ()
    interpretation: str | None = None
    unit_text: str | None = None  # the unit as the EHR shows it ("mmHg" for UCUM "mm[Hg]")

    @property
    def name(self) -> str:
        """What clinicians call it: the terminology's name for a known LOINC code ("Blood
        pressure", not LOINC's "Blood pressure panel with all children optional")."""
        known = _known(self.code)
        return known.name if known is not None and self.display == known.display else self.display

    @property
    def display_value(self) -> str:
        """``142/88 mmHg``, ``78 bpm``, ``37.1 °C``, ``positive``; empty when nothing was
        recorded. Units of known observations read as clinicians write them."""
        known = _known(self.code)
        if self.components and self.value is None and self.value_text is None:
            values = [
                _fmt(c.value) if c.value is not None else (c.value_text or "?")
                for c in self.components
            ]
            units = {_unit_words(_known(c.code), c.unit, c.unit_text) for c in self.components}
            units.discard("")
            unit = f" {units.pop()}" if len(units) == 1 else ""
            return "/".join(values) + unit
        if self.value is not None:
            unit_shown = _unit_words(known, self.unit, self.unit_text)
            return _fmt(self.value) + (f" {unit_shown}" if unit_shown else "")
        return self.value_text or ""


def _known(code: Coding | None) -> Concept | None:
    if code is None or code.system != "http://loinc.org" or not code.code:
        return None
    return terminology().concept(code.code)


def _unit_words(known: Concept | None, unit: str | None, unit_text: str | None) -> str:
    """The terminology's words for a known observation's UCUM unit ("°C" for Cel, "bpm"),
    else the EHR's unit text, else the code."""
    if known is not None and unit in known.units:
        return terminology().shown_unit(unit, known)
    return unit_text or unit or ""


VitalSign = Measurement
LabResult = Measurement


MAX_DECIMAL_EXPONENT = 18  # |value| below 1e18 and above 1e-18: beyond that it is not a measurement


def bounded_decimal(value: object) -> Decimal | None:
    """``value`` as a finite Decimal of sane magnitude, else None (a hostile ``1e999999999``
    must never reach code that formats it digit by digit)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return None
    try:
        number = Decimal(value) if not isinstance(value, float) else Decimal(repr(value))
    except (ArithmeticError, ValueError):
        return None
    if not number.is_finite():
        return None
    if number and abs(number.adjusted()) > MAX_DECIMAL_EXPONENT:
        return None
    return number


def _fmt(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class NoteSourceType(Enum):
    DOCUMENT_REFERENCE = "DocumentReference"
    COMPOSITION = "Composition"


@dataclass(frozen=True)
class NoteRelation:
    code: str  # replaces | transforms | signs | appends
    target: Reference


@dataclass(frozen=True)
class PriorNote:
    """A note already in the chart (DocumentReference or Composition)."""

    id: str
    source_type: NoteSourceType
    version_id: str | None
    type: Coding | None
    type_display: str
    date: datetime | None
    authors: tuple[Reference, ...]
    status: str | None  # current | superseded | entered-in-error (Composition: its status)
    doc_status: str | None  # preliminary | final | amended
    description: str | None
    text: str | None  # decoded inline content; None when only a URL was given
    content_type: str | None
    relates_to: tuple[NoteRelation, ...] = ()
    encounter: Reference | None = None
    attachment_url: str | None = None
    identifiers: tuple[str, ...] = ()  # "system|value" tokens (this app's commit identifier)

    @property
    def reference(self) -> Reference:
        return Reference(self.source_type.value, self.id, self.type_display)

    @property
    def replaces(self) -> tuple[Reference, ...]:
        return tuple(r.target for r in self.relates_to if r.code == "replaces")

    def plain_text(self) -> str | None:
        """The note as plain text (HTML/XHTML tags dropped, never rendered)."""
        if self.text is None:
            return None
        ctype = (self.content_type or "").lower()
        if "html" in ctype or self.text.lstrip().startswith("<div"):
            return html_to_text(self.text)
        return self.text
