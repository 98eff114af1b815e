"""The encounter context: the chart data a clinician sees while writing a note.

Each section carries its own items, the resources that were skipped (with the reason), warnings
(for example "showing the latest 100") and an error when the whole section could not be loaded,
so one bad resource or one refused search never breaks the rest of the context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Generic, TypeVar

from app.domain.clinical import (
    Allergy,
    EncounterSummary,
    Measurement,
    Medication,
    PatientSummary,
    PriorNote,
    Problem,
)

T = TypeVar("T")


class SectionKind(Enum):
    PROBLEMS = "problems"
    MEDICATIONS = "medications"
    ALLERGIES = "allergies"
    VITALS = "vitals"
    LABS = "labs"
    NOTES = "notes"

    @property
    def title(self) -> str:
        return {
            SectionKind.PROBLEMS: "Problems",
            SectionKind.MEDICATIONS: "Medications",
            SectionKind.ALLERGIES: "Allergies",
            SectionKind.VITALS: "Vital signs",
            SectionKind.LABS: "Laboratory results",
            SectionKind.NOTES: "Prior notes",
        }[self]


@dataclass(frozen=True)
class SkippedResource:
    """A resource left out of a section because it could not be read; ``reason`` is for people
    (it names the element and the problem, never the resource's clinical content)."""

    resource_type: str
    id: str | None
    reason: str


@dataclass(frozen=True)
class Continuation:
    """Where one of a section's searches continues at the EHR: its ``next`` link (opaque to
    all but the FHIR layer), for the older items paged in the background."""

    search: str  # the search it continues ("vitals", "labs", "notes", "compositions")
    url: str


@dataclass(frozen=True)
class ContextSection(Generic[T]):
    items: tuple[T, ...] = ()
    skipped: tuple[SkippedResource, ...] = ()
    warnings: tuple[str, ...] = ()
    error: str | None = None  # the section could not be loaded at all (message for people)
    truncated: bool = False  # more results exist than were loaded
    more: tuple[Continuation, ...] = ()  # where the older items can be read (when truncated)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class EncounterContext:
    patient: PatientSummary
    encounter: EncounterSummary
    problems: ContextSection[Problem] = field(default_factory=ContextSection)
    medications: ContextSection[Medication] = field(default_factory=ContextSection)
    allergies: ContextSection[Allergy] = field(default_factory=ContextSection)
    vitals: ContextSection[Measurement] = field(default_factory=ContextSection)
    labs: ContextSection[Measurement] = field(default_factory=ContextSection)
    notes: ContextSection[PriorNote] = field(default_factory=ContextSection)
    loaded_at: datetime | None = None
    source: str | None = None  # FHIR base URL the context came from

    def section(self, kind: SectionKind) -> ContextSection[object]:
        value: ContextSection[object] = getattr(self, kind.value)
        return value

    @property
    def active_medications(self) -> tuple[Medication, ...]:
        """The medications the patient is on: active orders (an order without a status is
        taken as active, as the context loader does). Medication reconciliation lists these."""
        return tuple(m for m in self.medications.items if m.status in ("active", None))

    def latest_vitals(self) -> tuple[Measurement, ...]:
        """The most recent measurement of each vital sign (by code, else display)."""
        return _latest_per_code(self.vitals.items)

    def latest_labs(self) -> tuple[Measurement, ...]:
        return _latest_per_code(self.labs.items)


def results_per_code(
    items: tuple[Measurement, ...],
) -> tuple[tuple[Measurement, tuple[Measurement, ...]], ...]:
    """Each vital sign or test once: its latest result and the earlier ones, newest first —
    a flowsheet's rows (ordered as ``latest_vitals``)."""
    by_key: dict[str, list[Measurement]] = {}
    for m in items:
        by_key.setdefault(measurement_key(m), []).append(m)
    rows = []
    for results in by_key.values():
        ordered = sorted(results, key=_newest_first)
        rows.append((ordered[0], tuple(ordered[1:])))
    return tuple(sorted(rows, key=lambda row: _sort_key(row[0])))


def measurement_key(m: Measurement) -> str:
    """What makes two results the same vital sign or test: the code, else the name."""
    return f"{m.code.system}|{m.code.code}" if m.code and m.code.code else m.display.lower()


def _newest_first(m: Measurement) -> tuple[bool, float]:
    return (m.effective is None, -m.effective.timestamp() if m.effective else 0.0)


def _latest_per_code(items: tuple[Measurement, ...]) -> tuple[Measurement, ...]:
    seen: dict[str, Measurement] = {}
    for m in items:
        key = measurement_key(m)
        current = seen.get(key)
        if current is None or _later(m, current):
            seen[key] = m
    return tuple(sorted(seen.values(), key=_sort_key))


def _later(a: Measurement, b: Measurement) -> bool:
    if a.effective is None:
        return False
    return b.effective is None or a.effective > b.effective


def _sort_key(m: Measurement) -> tuple[float, str]:
    ts = m.effective.timestamp() if m.effective else float("-inf")
    return (-ts, m.display)
