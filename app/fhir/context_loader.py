"""Loading the encounter context in as few round trips as the server allows.

With ``batch`` declared in the CapabilityStatement everything goes in one batch Bundle (plus
the CapabilityStatement itself, fetched once per client): two round trips for a normal chart.
Without it, the searches run concurrently. Either way paging is followed (bounded per section),
and every search uses only parameters and includes the server declares (an unknown parameter
makes some servers return nothing). References use ``Patient/<id>`` form (bare ids find nothing
in multi-target reference parameters on some servers).

A resource that cannot be read, or that belongs to another patient, is skipped and reported in
its section; a section whose search fails shows that error; only a missing or inconsistent
patient or encounter fails the whole load.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar
from urllib.parse import urlencode

from app.domain.clinical import (
    EncounterSummary,
    Measurement,
    MeasurementKind,
    PatientSummary,
    PriorNote,
    ProblemStatus,
)
from app.domain.context import ContextSection, EncounterContext, SectionKind, SkippedResource
from app.fhir.capabilities import ServerCapabilities, TypeCapabilities
from app.fhir.client import FhirClient, JsonObject, SearchResult, next_link, outcome_text
from app.fhir.errors import (
    EncounterPatientMismatch,
    FhirError,
    FhirMappingError,
    FhirNotFound,
    FhirUnexpectedResponse,
    FhirUnsupported,
    ehr_noted,
    http_error,
)
from app.fhir.mapping_in import (
    References,
    conformance_problem,
    guarded,
    map_allergy,
    map_composition,
    map_condition,
    map_document_reference,
    map_encounter,
    map_medication_request,
    map_observation,
    map_patient,
    status_code,
)
from app.fhir.subject_check import SubjectProblem, subject_problem
from app.smart.http_log import prefix, tagged

T = TypeVar("T")
log = logging.getLogger(__name__)


class LoadStrategy(Enum):
    AUTO = "auto"  # batch when the server declares it, else concurrent searches
    BATCH = "batch"
    CONCURRENT = "concurrent"
    SEQUENTIAL = "sequential"  # one request at a time: the naive baseline of the benchmark


@dataclass(frozen=True)
class ContextLoadOptions:
    page_size: int = 100
    vitals_limit: int = 200
    labs_limit: int = 200
    notes_limit: int = 50
    list_limit: int = 500  # problems, medications, allergies
    mrn_system: str | None = None  # the site's MRN identifier system, when known
    strategy: LoadStrategy = LoadStrategy.AUTO


@dataclass(frozen=True)
class _Query:
    key: str  # SectionKind value, or "compositions"
    resource_type: str
    params: tuple[tuple[str, str], ...]
    limit: int

    @property
    def relative_url(self) -> str:
        return f"{self.resource_type}?{urlencode(self.params)}"


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
    queries, refused = _plan(caps, patient_id, options)
    encounter_query = _encounter_query(caps, encounter_id)
    use_batch = options.strategy is LoadStrategy.BATCH or (
        options.strategy is LoadStrategy.AUTO and caps.batch
    )
    if use_batch:
        runner = _run_batch
    elif options.strategy is LoadStrategy.SEQUENTIAL:
        runner = _run_sequential
    else:
        runner = _run_concurrent
    started = time.perf_counter()
    patient_raw, encounter_bundle, results = await runner(
        client, patient_id, encounter_id, encounter_query, queries
    )
    took = (time.perf_counter() - started) * 1000
    how, skipped = runner.__name__.removeprefix("_run_"), ", ".join(refused) or "none"
    log.debug(
        "%s%s: %d searches in %.0f ms (not offered: %s)", prefix(), how, len(queries), took, skipped
    )

    if patient_raw.get("resourceType") != "Patient" or patient_raw.get("id") != patient_id:
        raise FhirUnexpectedResponse(
            f"The EHR answered the request for patient {patient_id} with another record. "
            "Nothing was loaded; tell clinic IT.",
        )
    patient = _map_one(
        "Patient", patient_raw, lambda: map_patient(patient_raw, mrn_system=options.mrn_system)
    )
    refs = References(encounter_bundle.included)
    encounter_raw = next(
        (
            r
            for r in encounter_bundle.resources
            if r.get("resourceType") == "Encounter" and r.get("id") == encounter_id
        ),
        None,
    )
    if encounter_raw is None:
        raise FhirNotFound(
            404,
            f"The EHR has no encounter {encounter_id}. Choose the encounter again.",
            detail=f"Encounter/{encounter_id} not found",
        )
    encounter = _map_one("Encounter", encounter_raw, lambda: map_encounter(encounter_raw, refs))
    problem = subject_problem(encounter_raw, patient_id, client.fhir_base)
    if problem is not None:
        raise _wrong_patient(problem, encounter_id, patient)

    def result(key: str) -> SearchResult | str:
        return refused.get(key) or results.get(key) or "not requested"

    def section(
        key: SectionKind,
        rtype: str,
        mapper: Callable[[JsonObject, References], T],
        keep: Callable[[JsonObject], bool],
        order: Callable[[list[T]], list[T]],
    ) -> ContextSection[T]:
        return _section(
            result(key.value), rtype, patient_id, client.fhir_base, refs, mapper, keep, order
        )

    notes = section(
        SectionKind.NOTES, "DocumentReference", map_document_reference, _not_in_error, _by_note_date
    )
    if "compositions" in results or "compositions" in refused:
        compositions = _section(
            result("compositions"),
            "Composition",
            patient_id,
            client.fhir_base,
            refs,
            map_composition,
            _not_in_error,
            _by_note_date,
        )
        notes = _merge_notes(notes, compositions)
    return EncounterContext(
        patient=patient,
        encounter=encounter,
        problems=section(
            SectionKind.PROBLEMS, "Condition", map_condition, _relevant_condition, _by_display
        ),
        medications=section(
            SectionKind.MEDICATIONS,
            "MedicationRequest",
            map_medication_request,
            _active_medication,
            _by_display,
        ),
        allergies=section(
            SectionKind.ALLERGIES, "AllergyIntolerance", map_allergy, _relevant_allergy, _by_display
        ),
        vitals=section(
            SectionKind.VITALS,
            "Observation",
            lambda raw, r: map_observation(raw, MeasurementKind.VITAL_SIGN, r),
            _not_in_error,
            _by_effective,
        ),
        labs=section(
            SectionKind.LABS,
            "Observation",
            lambda raw, r: map_observation(raw, MeasurementKind.LABORATORY, r),
            _not_in_error,
            _by_effective,
        ),
        notes=notes,
        loaded_at=now or datetime.now(UTC),
        source=client.fhir_base,
    )


# ---------------------------------------------------------------- planning


def _plan(
    caps: ServerCapabilities, patient_id: str, options: ContextLoadOptions
) -> tuple[list[_Query], dict[str, str]]:
    """The searches to run, and a message per section the server does not allow searching."""
    page = max(1, options.page_size)
    specs: list[tuple[str, str, list[tuple[str, str]], int, list[str], str | None]] = [
        # key, type, extra params, limit, includes, sort parameter
        (
            SectionKind.PROBLEMS.value,
            "Condition",
            [("clinical-status", "active,recurrence,relapse")],
            options.list_limit,
            [],
            None,
        ),
        (
            SectionKind.MEDICATIONS.value,
            "MedicationRequest",
            [("status", "active")],
            options.list_limit,
            ["MedicationRequest:medication"],
            None,
        ),
        (SectionKind.ALLERGIES.value, "AllergyIntolerance", [], options.list_limit, [], None),
        (
            SectionKind.VITALS.value,
            "Observation",
            [("category", "vital-signs")],
            options.vitals_limit,
            [],
            "date",
        ),
        (
            SectionKind.LABS.value,
            "Observation",
            [("category", "laboratory")],
            options.labs_limit,
            [],
            "date",
        ),
        (
            SectionKind.NOTES.value,
            "DocumentReference",
            [],
            options.notes_limit,
            ["DocumentReference:author"],
            "date",
        ),
    ]
    if caps.can_search("Composition"):
        specs.append(
            ("compositions", "Composition", [], options.notes_limit, ["Composition:author"], "date")
        )
    queries: list[_Query] = []
    refused: dict[str, str] = {}
    for key, rtype, extra, limit, includes, sort in specs:
        tc = caps.type(rtype)
        if tc is None or not tc.supports("search-type"):
            refused[key] = f"The EHR does not offer searching {rtype} resources."
            continue
        by = _patient_param(tc)
        if by is None:
            refused[key] = f"The EHR does not allow searching {rtype} resources by patient."
            continue
        params = [(by, f"Patient/{patient_id}")]
        params += [(name, value) for name, value in extra if tc.has_param(name)]
        params += [("_include", inc) for inc in includes if tc.can_include(inc)]
        if sort is not None and sort in tc.search_params:
            params.append(("_sort", f"-{sort}"))
        params.append(("_count", str(min(page, limit))))
        queries.append(_Query(key, rtype, tuple(params), limit))
    return queries, refused


def _patient_param(tc: TypeCapabilities) -> str | None:
    if not tc.search_params:
        return "patient"
    return next((p for p in ("patient", "subject") if p in tc.search_params), None)


def _encounter_query(caps: ServerCapabilities, encounter_id: str) -> _Query | None:
    """``Encounter?_id=..&_include=..`` when includes are declared (names for the banner);
    None means a plain read."""
    tc = caps.type("Encounter")
    if tc is None or not tc.supports("search-type"):
        return None
    includes = [
        inc
        for inc in ("Encounter:location", "Encounter:participant", "Encounter:service-provider")
        if tc.can_include(inc)
    ]
    if not includes:
        return None
    params = (("_id", encounter_id), *(("_include", inc) for inc in includes))
    return _Query("encounter", "Encounter", params, 1)


# ---------------------------------------------------------------- running

_RunResult = tuple[JsonObject, SearchResult, dict[str, SearchResult | str]]


async def _run_batch(
    client: FhirClient,
    patient_id: str,
    encounter_id: str,
    encounter_query: _Query | None,
    queries: Sequence[_Query],
) -> _RunResult:
    urls = [f"Patient/{patient_id}"]
    urls.append(encounter_query.relative_url if encounter_query else f"Encounter/{encounter_id}")
    urls += [q.relative_url for q in queries]
    response = await client.batch([{"request": {"method": "GET", "url": u}} for u in urls])
    entries = response.get("entry") or []

    patient_raw = _entry_resource(entries[0], f"reading Patient/{patient_id}")
    enc_raw = _entry_resource(entries[1], f"reading Encounter/{encounter_id}")
    if enc_raw.get("resourceType") == "Bundle":
        enc_result = await client.collect(enc_raw, limit=1)
    else:
        enc_result = SearchResult(resources=(enc_raw,))

    async def complete(query: _Query, entry: object) -> SearchResult | str:
        try:
            bundle = _entry_resource(entry, f"searching {query.resource_type}")
            if bundle.get("resourceType") != "Bundle":
                return f"The EHR answered the {query.resource_type} search with something else."
            result = await client.collect(bundle, limit=query.limit)
            total = result.total
            if (
                next_link(bundle) is None
                and total is not None
                and len(result.resources) < min(total, query.limit)
            ):
                # Some servers leave paging links out of bundles nested in a batch: run the
                # search again on its own, where they do give links.
                result = await client.search(query.resource_type, query.params, limit=query.limit)
            return result
        except FhirError as exc:
            return exc.user_message

    done = await asyncio.gather(
        *(complete(q, e) for q, e in zip(queries, entries[2:], strict=True))
    )
    return patient_raw, enc_result, {q.key: r for q, r in zip(queries, done, strict=True)}


async def _run_concurrent(
    client: FhirClient,
    patient_id: str,
    encounter_id: str,
    encounter_query: _Query | None,
    queries: Sequence[_Query],
) -> _RunResult:
    async def encounter() -> SearchResult:
        if encounter_query is None:
            return SearchResult(resources=(await client.read("Encounter", encounter_id),))
        return await client.search("Encounter", encounter_query.params, limit=1)

    async def search(query: _Query) -> SearchResult | str:
        try:
            return await client.search(query.resource_type, query.params, limit=query.limit)
        except FhirError as exc:
            return exc.user_message

    patient_task = client.read("Patient", patient_id)
    gathered = await asyncio.gather(
        patient_task, encounter(), *(search(q) for q in queries), return_exceptions=True
    )
    for outcome in gathered:
        if isinstance(outcome, BaseException):
            raise outcome
    patient_raw, enc_result, *rest = gathered
    assert isinstance(patient_raw, dict) and isinstance(enc_result, SearchResult)
    results: dict[str, SearchResult | str] = {}
    for q, r in zip(queries, rest, strict=True):
        assert isinstance(r, SearchResult | str)
        results[q.key] = r
    return patient_raw, enc_result, results


async def _run_sequential(
    client: FhirClient,
    patient_id: str,
    encounter_id: str,
    encounter_query: _Query | None,
    queries: Sequence[_Query],
) -> _RunResult:
    patient_raw = await client.read("Patient", patient_id)
    if encounter_query is None:
        enc_result = SearchResult(resources=(await client.read("Encounter", encounter_id),))
    else:
        enc_result = await client.search("Encounter", encounter_query.params, limit=1)
    results: dict[str, SearchResult | str] = {}
    for query in queries:
        try:
            results[query.key] = await client.search(
                query.resource_type, query.params, limit=query.limit
            )
        except FhirError as exc:
            results[query.key] = exc.user_message
    return patient_raw, enc_result, results


def _entry_resource(entry: object, what: str) -> JsonObject:
    """The resource of a batch-response entry; its HTTP error as a FhirHttpError."""
    if not isinstance(entry, dict):
        raise FhirUnexpectedResponse(f"The EHR's batch answer has an unreadable entry ({what}).")
    raw_response = entry.get("response")
    response: dict[str, Any] = raw_response if isinstance(raw_response, dict) else {}
    status_text = str(response.get("status", "200")).strip()
    try:
        status = int(status_text.split()[0])
    except (ValueError, IndexError):
        status = 200 if isinstance(entry.get("resource"), dict) else 500
    resource = entry.get("resource")
    if status >= 400:
        outcome = response.get("outcome") or resource
        raise http_error(status, what, outcome_text(outcome), None)
    if not isinstance(resource, dict):
        raise FhirUnexpectedResponse(f"The EHR's batch answer has no content ({what}).")
    return resource


# ---------------------------------------------------------------- mapping sections


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


def _section(
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
    lenient: list[str] = []
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
            problem = conformance_problem(raw)
            item = guarded(rtype, raw, lambda raw=raw: mapper(raw, local_refs))  # type: ignore[misc]
        except FhirMappingError as exc:
            problem_text = conformance_problem(raw)
            reason = exc.reason + (f" (not valid FHIR R4B: {problem_text})" if problem_text else "")
            skipped.append(SkippedResource(rtype, rid, reason))
            continue
        if problem is not None:
            lenient.append(problem)
        items.append(item)
    warnings: list[str] = []
    if lenient:
        warnings.append(
            f"{len(lenient)} {rtype} record(s) did not validate as FHIR R4B and were read "
            f"leniently (first: {lenient[0]})."
        )
    if result.truncated:
        warnings.append(f"Showing the first {len(items)}; the chart has more.")
    warnings += [ehr_noted(text) for o in result.outcomes if (text := outcome_text(o))]
    return ContextSection(
        items=tuple(order(items)),
        skipped=tuple(skipped),
        warnings=tuple(warnings),
        truncated=result.truncated,
    )


def _merge_notes(
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
        items=tuple(_by_note_date([*docs.items, *comps.items])),
        skipped=docs.skipped + comps.skipped,
        warnings=failed + docs.warnings + comps.warnings,
        truncated=docs.truncated or comps.truncated,
    )


def _not_in_error(raw: JsonObject) -> bool:
    return raw.get("status") not in ("entered-in-error", "cancelled")


def _relevant_condition(raw: JsonObject) -> bool:
    if status_code(raw.get("verificationStatus")) in ("entered-in-error", "refuted"):
        return False
    status = ProblemStatus.parse(status_code(raw.get("clinicalStatus")))
    return status.is_active or status is ProblemStatus.UNKNOWN


def _active_medication(raw: JsonObject) -> bool:
    return raw.get("status") in ("active", None)


def _relevant_allergy(raw: JsonObject) -> bool:
    if status_code(raw.get("verificationStatus")) in ("entered-in-error", "refuted"):
        return False
    return status_code(raw.get("clinicalStatus")) not in ("inactive", "resolved")


def _by_display(items: list[Any]) -> list[Any]:
    return sorted(items, key=lambda i: str(i.display).lower())


def _by_effective(items: list[Measurement]) -> list[Measurement]:
    return sorted(
        items,
        key=lambda m: (m.effective is not None, m.effective or datetime.min.replace(tzinfo=UTC)),
        reverse=True,
    )


def _by_note_date(items: list[PriorNote]) -> list[PriorNote]:
    return sorted(
        items,
        key=lambda n: (n.date is not None, n.date or datetime.min.replace(tzinfo=UTC)),
        reverse=True,
    )


# ---------------------------------------------------------------- pickers


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
    by = _patient_param(tc)
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


__all__ = [
    "ContextLoadOptions",
    "LoadStrategy",
    "list_encounters",
    "load_encounter_context",
    "search_patients",
]
