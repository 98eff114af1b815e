"""Loading the encounter context: the chart of one patient's encounter, in as few round trips
as the server allows.

Which searches (app.fhir.context_queries), how they run — one batch, concurrently, or one after
the other (app.fhir.context_fetch) — and how each section is read from its results
(app.fhir.context_sections). Here: the patient and the encounter, which must exist and belong
together, and the sections put together as an ``EncounterContext``.

A resource that cannot be read, or that belongs to another patient, is skipped and reported in
its section; a section whose search fails shows that error; only a missing or inconsistent
patient or encounter fails the whole load.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from app.domain.clinical import EncounterSummary, PatientSummary, PriorNote
from app.domain.clock import utc_now
from app.domain.context import ContextSection, EncounterContext, SectionKind
from app.fhir.client import FhirClient, JsonObject, SearchResult
from app.fhir.context_fetch import SectionResults, fetch_chart
from app.fhir.context_queries import ContextLoadOptions, LoadStrategy
from app.fhir.context_sections import READERS, merge_notes
from app.fhir.errors import (
    EncounterPatientMismatch,
    FhirMappingError,
    FhirNotFound,
    FhirUnexpectedResponse,
)
from app.fhir.fhir_reading import References, guarded
from app.fhir.mapping_in import map_encounter, map_patient
from app.fhir.subject_check import SubjectProblem, subject_problem
from app.smart.http_log import tagged

__all__ = ["ContextLoadOptions", "LoadStrategy", "load_encounter_context"]

T = TypeVar("T")


@tagged("context load")
async def load_encounter_context(
    client: FhirClient,
    patient_id: str,
    encounter_id: str,
    *,
    options: ContextLoadOptions | None = None,
    now: datetime | None = None,
    on_header: Callable[[PatientSummary, EncounterSummary], None] | None = None,
) -> EncounterContext:
    """The chart context of one encounter. Raises FhirError subclasses only when the patient
    or the encounter cannot be loaded or do not belong together (EncounterPatientMismatch).
    ``on_header`` gets the patient and the encounter (checked to belong together) as soon as
    they are in, one round trip before the chart's sections: the banner need not wait."""
    options = options or ContextLoadOptions()
    caps = await client.capabilities()
    header: list[tuple[PatientSummary, EncounterSummary, References]] = []

    def header_ready(patient_raw: JsonObject, encounter_bundle: SearchResult) -> None:
        patient = _patient(patient_raw, patient_id, options)
        encounter, refs = _encounter(encounter_bundle, encounter_id, patient, client.fhir_base)
        header.append((patient, encounter, refs))
        if on_header is not None:
            on_header(patient, encounter)

    results = await fetch_chart(client, caps, patient_id, encounter_id, options, header_ready)
    ((patient, encounter, refs),) = header
    sections = _Sections(results, patient_id, client.fhir_base, refs)
    return EncounterContext(
        patient=patient,
        encounter=encounter,
        problems=sections.read(SectionKind.PROBLEMS.value),
        medications=sections.read(SectionKind.MEDICATIONS.value),
        allergies=sections.read(SectionKind.ALLERGIES.value),
        vitals=sections.read(SectionKind.VITALS.value),
        labs=sections.read(SectionKind.LABS.value),
        notes=sections.notes(),
        loaded_at=now or utc_now(),
        source=client.fhir_base,
    )


class _Sections:
    """Reads each section from its search results (or its error words)."""

    def __init__(
        self, results: SectionResults, patient_id: str, fhir_base: str, refs: References
    ) -> None:
        self._results = results
        self._patient_id = patient_id
        self._fhir_base = fhir_base
        self._refs = refs

    def read(self, search: str) -> ContextSection[Any]:
        result = self._results.get(search) or "not requested"
        return READERS[search].read(search, result, self._patient_id, self._fhir_base, self._refs)

    def notes(self) -> ContextSection[PriorNote]:
        """DocumentReferences, and Compositions where the server offers them, as one list."""
        notes = self.read(SectionKind.NOTES.value)
        if "compositions" not in self._results:
            return notes
        return merge_notes(notes, self.read("compositions"))


def _patient(raw: JsonObject, patient_id: str, options: ContextLoadOptions) -> PatientSummary:
    if raw.get("resourceType") != "Patient" or raw.get("id") != patient_id:
        raise FhirUnexpectedResponse(
            f"The EHR answered the request for patient {patient_id} with another record. "
            "Nothing was loaded; tell clinic IT.",
        )
    return _map_one("Patient", raw, lambda: map_patient(raw, mrn_system=options.mrn_system))


def _encounter(
    bundle: SearchResult, encounter_id: str, patient: PatientSummary, fhir_base: str
) -> tuple[EncounterSummary, References]:
    """The encounter (with what its search included), which must be the patient's on this EHR."""
    refs = References(bundle.included)
    raw = next(
        (
            r
            for r in bundle.resources
            if r.get("resourceType") == "Encounter" and r.get("id") == encounter_id
        ),
        None,
    )
    if raw is None:
        raise FhirNotFound(
            404,
            f"The EHR has no encounter {encounter_id}. Choose the encounter again.",
            detail=f"Encounter/{encounter_id} not found",
        )
    encounter = _map_one("Encounter", raw, lambda: map_encounter(raw, refs))
    problem = subject_problem(raw, patient.id, fhir_base)
    if problem is not None:
        raise _wrong_patient(problem, encounter_id, patient)
    return encounter, refs


def _map_one(rtype: str, raw: JsonObject, mapper: Callable[[], T]) -> T:
    try:
        return guarded(rtype, raw, mapper)
    except FhirMappingError as exc:
        raise FhirUnexpectedResponse(
            f"The {rtype} record from the EHR cannot be shown: {exc.reason}. Tell clinic IT.",
            detail=exc.reason,
        ) from exc


def _wrong_patient(
    problem: SubjectProblem, encounter_id: str, patient: PatientSummary
) -> EncounterPatientMismatch:
    """A wrong-patient risk in words for the clinician (and a PHI-free detail for support)."""
    whose = f"{patient.shown_name} (Patient/{patient.id})"
    what = {
        SubjectProblem.NAMES_NO_PATIENT: "does not say which patient it belongs to, so the app "
        f"cannot be sure it is {whose}'s",
        SubjectProblem.NOT_A_PATIENT: f"belongs to something other than a patient, not to {whose}",
        SubjectProblem.OTHER_SERVER: f"names a patient on another server, not {whose} on this "
        "EHR (the record numbers are the same, the patients may not be)",
        SubjectProblem.OTHER_PATIENT: f"belongs to another patient, not to {whose}",
    }[problem]
    return EncounterPatientMismatch(
        f"Encounter {encounter_id} {what}. Nothing was loaded: choose the patient and encounter "
        "again, and tell clinic IT if this encounter should be this patient's.",
        detail=f"Encounter/{encounter_id}: {problem.name}",
    )
