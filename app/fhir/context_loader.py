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
from typing import TypeVar

from app.domain.clinical import EncounterSummary, MeasurementKind, PatientSummary, PriorNote
from app.domain.clock import utc_now
from app.domain.context import ContextSection, EncounterContext, SectionKind
from app.fhir.client import FhirClient, JsonObject, SearchResult
from app.fhir.context_fetch import SectionResults, fetch_chart
from app.fhir.context_queries import ContextLoadOptions, LoadStrategy
from app.fhir.context_sections import (
    active_medication,
    by_display,
    by_effective,
    by_note_date,
    chart_section,
    merge_notes,
    not_in_error,
    relevant_allergy,
    relevant_condition,
)
from app.fhir.errors import (
    EncounterPatientMismatch,
    FhirMappingError,
    FhirNotFound,
    FhirUnexpectedResponse,
)
from app.fhir.fhir_reading import References, guarded
from app.fhir.mapping_in import (
    map_allergy,
    map_composition,
    map_condition,
    map_document_reference,
    map_encounter,
    map_medication_request,
    map_observation,
    map_patient,
)
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
) -> EncounterContext:
    """The chart context of one encounter. Raises FhirError subclasses only when the patient
    or the encounter cannot be loaded or do not belong together (EncounterPatientMismatch)."""
    options = options or ContextLoadOptions()
    caps = await client.capabilities()
    patient_raw, encounter_bundle, results = await fetch_chart(
        client, caps, patient_id, encounter_id, options
    )
    patient = _patient(patient_raw, patient_id, options)
    encounter, refs = _encounter(encounter_bundle, encounter_id, patient, client.fhir_base)
    sections = _Sections(results, patient_id, client.fhir_base, refs)
    return EncounterContext(
        patient=patient,
        encounter=encounter,
        problems=sections.read(
            SectionKind.PROBLEMS, "Condition", map_condition, relevant_condition, by_display
        ),
        medications=sections.read(
            SectionKind.MEDICATIONS,
            "MedicationRequest",
            map_medication_request,
            active_medication,
            by_display,
        ),
        allergies=sections.read(
            SectionKind.ALLERGIES, "AllergyIntolerance", map_allergy, relevant_allergy, by_display
        ),
        vitals=sections.read(
            SectionKind.VITALS,
            "Observation",
            lambda raw, r: map_observation(raw, MeasurementKind.VITAL_SIGN, r),
            not_in_error,
            by_effective,
        ),
        labs=sections.read(
            SectionKind.LABS,
            "Observation",
            lambda raw, r: map_observation(raw, MeasurementKind.LABORATORY, r),
            not_in_error,
            by_effective,
        ),
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

    def result(self, key: str) -> SearchResult | str:
        return self._results.get(key) or "not requested"

    def read(
        self,
        key: SectionKind | str,
        rtype: str,
        mapper: Callable[[JsonObject, References], T],
        keep: Callable[[JsonObject], bool],
        order: Callable[[list[T]], list[T]],
    ) -> ContextSection[T]:
        name = key.value if isinstance(key, SectionKind) else key
        return chart_section(
            self.result(name), rtype, self._patient_id, self._fhir_base, self._refs, mapper, keep,
            order,
        )  # fmt: skip

    def notes(self) -> ContextSection[PriorNote]:
        """DocumentReferences, and Compositions where the server offers them, as one list."""
        notes = self.read(
            SectionKind.NOTES, "DocumentReference", map_document_reference, not_in_error,
            by_note_date,
        )  # fmt: skip
        if "compositions" not in self._results:
            return notes
        compositions = self.read(
            "compositions", "Composition", map_composition, not_in_error, by_note_date
        )
        return merge_notes(notes, compositions)


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
