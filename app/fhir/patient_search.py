"""Finding a patient and an encounter (the pickers): only the search parameters the server
declares, matches read leniently, an encounter of another patient never listed as theirs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from app.domain.clinical import EncounterSummary, PatientSummary
from app.domain.context import ContextSection, SkippedResource
from app.fhir.client import FhirClient, JsonObject, SearchResult
from app.fhir.context_queries import patient_param
from app.fhir.errors import FhirMappingError, FhirUnsupported
from app.fhir.fhir_reading import References, guarded
from app.fhir.mapping_in import map_encounter, map_patient
from app.smart.http_log import tagged

T = TypeVar("T")


@tagged("patient search")
async def search_patients(
    client: FhirClient,
    *,
    name: str | None = None,
    birthdate: str | None = None,
    mrn: str | None = None,
    mrn_system: str | None = None,
    limit: int = 50,
) -> ContextSection[PatientSummary]:
    """Patients matching all given criteria (for the patient picker)."""
    params: list[tuple[str, str]] = []
    if name:
        params.append(("name", name))
    if birthdate:
        params.append(("birthdate", birthdate))
    if mrn:
        params.append(("identifier", f"{mrn_system}|{mrn}" if mrn_system else mrn))
    if not params:
        raise ValueError("give a name, a birth date or an MRN")
    caps = await client.capabilities()
    tc = caps.type("Patient")
    if tc is None or not tc.supports("search-type"):
        raise FhirUnsupported("The EHR does not offer searching for patients.")
    unsupported = [p for p, _ in params if not tc.has_param(p)]
    if unsupported:
        raise FhirUnsupported(
            f"The EHR does not allow searching patients by {', '.join(unsupported)}."
        )
    params.append(("_count", str(min(limit, 100))))
    result = await client.search("Patient", params, limit=limit)
    return _picker_section(
        result, "Patient", lambda raw: map_patient(raw, mrn_system=mrn_system), _by_name
    )


@tagged("encounter list")
async def list_encounters(
    client: FhirClient, patient_id: str, *, limit: int = 50
) -> ContextSection[EncounterSummary]:
    """The patient's encounters, newest first (for the encounter picker)."""
    caps = await client.capabilities()
    tc = caps.type("Encounter")
    if tc is None or not tc.supports("search-type"):
        raise FhirUnsupported("The EHR does not offer searching encounters.")
    by = patient_param(tc)
    if by is None:
        raise FhirUnsupported("The EHR does not allow searching encounters by patient.")
    params = [(by, f"Patient/{patient_id}")]
    if tc.can_include("Encounter:location"):
        params.append(("_include", "Encounter:location"))
    if "date" in tc.search_params:
        params.append(("_sort", "-date"))
    params.append(("_count", str(min(limit, 100))))
    result = await client.search("Encounter", params, limit=limit)
    refs = References(result.included)
    section = _picker_section(result, "Encounter", lambda raw: map_encounter(raw, refs), _by_start)
    wrong = [e for e in section.items if e.subject is not None and e.subject.id != patient_id]
    if wrong:
        kept = tuple(e for e in section.items if e not in wrong)
        extra = tuple(
            SkippedResource("Encounter", e.id, "it belongs to another patient") for e in wrong
        )
        return ContextSection(
            items=kept,
            skipped=section.skipped + extra,
            warnings=section.warnings,
            truncated=section.truncated,
        )
    return section


def _picker_section(
    result: SearchResult,
    rtype: str,
    mapper: Callable[[JsonObject], T],
    order: Callable[[list[T]], list[T]],
) -> ContextSection[T]:
    items: list[T] = []
    skipped: list[SkippedResource] = []
    for raw in result.resources:
        if raw.get("resourceType") != rtype:
            continue
        try:
            items.append(guarded(rtype, raw, lambda raw=raw: mapper(raw)))  # type: ignore[misc]
        except FhirMappingError as exc:
            skipped.append(SkippedResource(rtype, exc.resource_id, exc.reason))
    warnings = (
        (f"Showing the first {len(items)} matches; narrow the search.",) if result.truncated else ()
    )
    return ContextSection(
        items=tuple(order(items)),
        skipped=tuple(skipped),
        warnings=warnings,
        truncated=result.truncated,
    )


def _by_name(items: list[PatientSummary]) -> list[PatientSummary]:
    return sorted(items, key=lambda p: (p.family or "", p.name))


def _by_start(items: list[EncounterSummary]) -> list[EncounterSummary]:
    return sorted(
        items,
        key=lambda e: (
            e.period_start is not None,
            e.period_start or datetime.min.replace(tzinfo=UTC),
        ),
        reverse=True,
    )
