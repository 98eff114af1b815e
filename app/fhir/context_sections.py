"""One section of the chart (problems, medications, vitals, notes, …) from its search results.

A resource of another type, or one that is not the open patient's on this EHR, is skipped and
reported in its section (never shown as theirs); one that cannot be read is skipped with the
reason (and, checked against the FHIR R4B model then, the rule it breaks); one that breaks a FHIR
rule the app does not rely on is read leniently (issue 15: validating every record cost more than
the rest of the load on a local link).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from app.domain.clinical import Measurement, MeasurementKind, PriorNote, ProblemStatus
from app.domain.context import ContextSection, Continuation, SkippedResource
from app.fhir.client import JsonObject, SearchResult, outcome_text
from app.fhir.errors import FhirMappingError, ehr_noted
from app.fhir.fhir_reading import References, conformance_problem, guarded, status_code
from app.fhir.mapping_in import (
    map_allergy,
    map_composition,
    map_condition,
    map_document_reference,
    map_medication_request,
    map_observation,
)
from app.fhir.subject_check import subject_problem

T = TypeVar("T")


@dataclass(frozen=True)
class SectionReader(Generic[T]):
    """How one search's results become a section: the type it returns, the mapper, which
    records are shown at all, and the section's order."""

    rtype: str
    mapper: Callable[[JsonObject, References], T]
    keep: Callable[[JsonObject], bool]
    order: Callable[[list[T]], list[T]]

    def read(
        self,
        search: str,
        result: SearchResult | str,
        patient_id: str,
        fhir_base: str,
        refs: References,
    ) -> ContextSection[T]:
        section = chart_section(
            result, self.rtype, patient_id, fhir_base, refs, self.mapper, self.keep, self.order
        )
        if isinstance(result, SearchResult) and result.next_url is not None:
            section = replace(section, more=(Continuation(search, result.next_url),))
        return section


def chart_section(
    result: SearchResult | str,
    rtype: str,
    patient_id: str,
    fhir_base: str,
    refs: References,
    mapper: Callable[[JsonObject, References], T],
    keep: Callable[[JsonObject], bool],
    order: Callable[[list[T]], list[T]],
) -> ContextSection[T]:
    if isinstance(result, str):
        return ContextSection(error=result)
    local_refs = References(result.included)
    local_refs.add(refs.resources())
    items: list[T] = []
    skipped: list[SkippedResource] = []
    for raw in result.resources:
        rid = raw.get("id") if isinstance(raw.get("id"), str) else None
        if raw.get("resourceType") != rtype:
            skipped.append(
                SkippedResource(str(raw.get("resourceType"))[:40], rid, f"it is not a {rtype}")
            )
            continue
        not_theirs = subject_problem(raw, patient_id, fhir_base, ("subject", "patient"))
        if not_theirs is not None:  # not the open patient's on this EHR: never shown as theirs
            skipped.append(SkippedResource(rtype, rid, not_theirs.value))
            continue
        try:
            if not keep(raw):
                continue
            item = guarded(rtype, raw, lambda raw=raw: mapper(raw, local_refs))  # type: ignore[misc]
        except FhirMappingError as exc:
            # Validating against the R4B model (about 1 ms a resource) earns its keep only here,
            # saying why a record could not be shown; a record the mapper reads is shown as read.
            problem_text = conformance_problem(raw)
            reason = exc.reason + (f" (not valid FHIR R4B: {problem_text})" if problem_text else "")
            skipped.append(SkippedResource(rtype, rid, reason))
            continue
        items.append(item)
    # a truncated section is said in the pane ("Showing the newest 200; the EHR has more.", or
    # how far its older items are loaded): not a warning of its own
    warnings = [ehr_noted(text) for o in result.outcomes if (text := outcome_text(o))]
    return ContextSection(
        items=tuple(order(items)),
        skipped=tuple(skipped),
        warnings=tuple(warnings),
        truncated=result.truncated,
    )


def merge_notes(
    docs: ContextSection[PriorNote], comps: ContextSection[PriorNote]
) -> ContextSection[PriorNote]:
    """DocumentReferences and Compositions in one list; an error only when both failed."""
    if docs.error is not None and comps.error is not None:
        return ContextSection(error=docs.error)
    failed = tuple(
        f"{label} could not be loaded: {part.error}"
        for label, part in (("Notes", docs), ("Structured notes", comps))
        if part.error is not None
    )
    return ContextSection(
        items=tuple(by_note_date([*docs.items, *comps.items])),
        skipped=docs.skipped + comps.skipped,
        warnings=failed + docs.warnings + comps.warnings,
        truncated=docs.truncated or comps.truncated,
        more=docs.more + comps.more,
    )


def not_in_error(raw: JsonObject) -> bool:
    return raw.get("status") not in ("entered-in-error", "cancelled")


def relevant_condition(raw: JsonObject) -> bool:
    if status_code(raw.get("verificationStatus")) in ("entered-in-error", "refuted"):
        return False
    status = ProblemStatus.parse(status_code(raw.get("clinicalStatus")))
    return status.is_active or status is ProblemStatus.UNKNOWN


def active_medication(raw: JsonObject) -> bool:
    return raw.get("status") in ("active", None)


def relevant_allergy(raw: JsonObject) -> bool:
    if status_code(raw.get("verificationStatus")) in ("entered-in-error", "refuted"):
        return False
    return status_code(raw.get("clinicalStatus")) not in ("inactive", "resolved")


def by_display(items: list[Any]) -> list[Any]:
    return sorted(items, key=lambda i: str(i.display).lower())


_UNDATED = datetime.min.replace(tzinfo=UTC)


def newest_first_key(when: datetime | None) -> tuple[bool, datetime]:
    """The sections' order, with ``reverse=True``: newest first, the undated last."""
    return (when is not None, when or _UNDATED)


def by_effective(items: list[Measurement]) -> list[Measurement]:
    return sorted(items, key=lambda m: newest_first_key(m.effective), reverse=True)


def by_note_date(items: list[PriorNote]) -> list[PriorNote]:
    return sorted(items, key=lambda n: newest_first_key(n.date), reverse=True)


def _vital(raw: JsonObject, refs: References) -> Measurement:
    return map_observation(raw, MeasurementKind.VITAL_SIGN, refs)


def _lab(raw: JsonObject, refs: References) -> Measurement:
    return map_observation(raw, MeasurementKind.LABORATORY, refs)


# the reader of each search (app.fhir.context_queries names them): the first view and the
# older pages are read the same way
READERS: dict[str, SectionReader[Any]] = {
    "problems": SectionReader("Condition", map_condition, relevant_condition, by_display),
    "medications": SectionReader(
        "MedicationRequest", map_medication_request, active_medication, by_display
    ),
    "allergies": SectionReader("AllergyIntolerance", map_allergy, relevant_allergy, by_display),
    "vitals": SectionReader("Observation", _vital, not_in_error, by_effective),
    "labs": SectionReader("Observation", _lab, not_in_error, by_effective),
    "notes": SectionReader("DocumentReference", map_document_reference, not_in_error, by_note_date),
    "compositions": SectionReader("Composition", map_composition, not_in_error, by_note_date),
}
