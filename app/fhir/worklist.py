"""Reading a practitioner's day from the EHR: ``Encounter`` by participant and date, and
``Appointment`` by actor and date where the CapabilityStatement declares it, each with its
patients ``_include``d, in one batch Bundle where the server declares ``batch`` (else the
searches run side by side). The visits come back as domain ``Visit`` rows (app.domain.worklist).

    load_worklist(client, practitioner, day, zone)  -> Worklist  (round_trips: requests made)
    visits_by_number(client, numbers)               -> the visits whose Encounter.identifier
                                                       is one of ``numbers`` (HL7 PV1-19)

A resource that cannot be read is left out (its type and id are logged, nothing else).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any
from urllib.parse import urlencode

from app.domain.capabilities import ServerCapabilities, TypeCapabilities
from app.domain.clinical import PatientSummary
from app.domain.clock import utc_now
from app.domain.worklist import Visit, VisitStatus, Worklist, day_bounds, sort_visits
from app.fhir.client import FhirClient, JsonObject, SearchResult
from app.fhir.errors import FhirError, FhirMappingError, FhirUnexpectedResponse
from app.fhir.fhir_reading import concept_text, guarded, parse_instant
from app.fhir.mapping_in import map_patient

log = logging.getLogger(__name__)

PAGE_SIZE = 100
MAX_VISITS = 500
VISIT_NUMBER_CODE = "VN"  # v2-0203 identifier type of a visit number


@dataclass(frozen=True)
class _Search:
    resource_type: str
    params: tuple[tuple[str, str], ...]

    @property
    def relative_url(self) -> str:
        return f"{self.resource_type}?{urlencode(self.params)}"


def _first_param(tc: TypeCapabilities, *names: str) -> str | None:
    listed = [n for n in names if n in tc.search_params]
    if listed:
        return listed[0]
    return names[0] if not tc.search_params else None


def _first_include(tc: TypeCapabilities, *specs: str) -> str | None:
    return next((s for s in specs if tc.can_include(s)), None)


def plan_searches(
    caps: ServerCapabilities, practitioner: str, start: datetime, end: datetime
) -> list[_Search]:
    """The day's searches the server allows (Encounter always, Appointment where declared)."""
    window = [("date", f"ge{start.isoformat()}"), ("date", f"lt{end.isoformat()}")]
    searches: list[_Search] = []
    enc = caps.type("Encounter")
    if enc is None or not enc.supports("search-type"):
        raise FhirUnexpectedResponse(
            "This EHR does not allow searching encounters, so there is no worklist here. "
            "Open patients by name instead.",
            detail="Encounter search-type not declared",
        )
    by = _first_param(enc, "participant", "practitioner")
    if by is None or not enc.has_param("date"):
        raise FhirUnexpectedResponse(
            "This EHR does not allow searching encounters by clinician and date, so there is "
            "no worklist here. Open patients by name instead.",
            detail="Encounter participant/date not declared",
        )
    params = [(by, practitioner), *window]
    include = _first_include(enc, "Encounter:subject", "Encounter:patient")
    params += [("_include", include)] if include else []
    searches.append(_Search("Encounter", (*params, ("_count", str(PAGE_SIZE)))))
    appt = caps.type("Appointment")
    # Appointment only where declared with both parameters (an unknown parameter makes some
    # servers answer nothing at all)
    if (
        appt is not None
        and appt.supports("search-type")
        and {"actor", "date"} <= appt.search_params
    ):
        params = [("actor", practitioner), *window]
        include = _first_include(appt, "Appointment:patient", "Appointment:actor")
        params += [("_include", include)] if include else []
        searches.append(_Search("Appointment", (*params, ("_count", str(PAGE_SIZE)))))
    return searches


async def load_worklist(
    client: FhirClient,
    practitioner: str,
    day: date,
    zone: tzinfo,
    *,
    now: datetime | None = None,
) -> Worklist:
    """The practitioner's visits on ``day`` (a local date in ``zone``)."""
    caps = await client.capabilities()
    start, end = day_bounds(day, zone)
    searches = plan_searches(caps, practitioner, start, end)
    if caps.batch and len(searches) > 1:
        results, trips = await _run_batch(client, searches)
    else:
        results, trips = await _run_each(client, searches)
    patients = {p["id"]: p for r in results for p in r.included if _is(p, "Patient")}
    missing = _patients_missing(results, patients)
    if missing:  # the server would not _include them: one more search for all of them
        found = await client.search("Patient", [("_id", ",".join(sorted(missing)))])
        trips += found.pages
        patients.update({p["id"]: p for p in found.resources if _is(p, "Patient")})
    # A period that is still open overlaps every later day: only visits that begin on the day
    # are the day's (an encounter left in progress for weeks is not on today's list).
    visits = [v for v in _visits(results, patients) if v.start is None or start <= v.start < end]
    return Worklist(
        practitioner=practitioner,
        day=day,
        visits=sort_visits(visits),
        fetched_at=now or utc_now(),
        round_trips=trips,
    )


async def visits_by_number(
    client: FhirClient, numbers: Sequence[str], *, practitioner: str | None = None
) -> list[Visit]:
    """The encounters whose identifier is one of ``numbers`` (of ``practitioner``, when
    given), with their patients."""
    if not numbers:
        return []
    caps = await client.capabilities()
    enc = caps.type("Encounter")
    params = [("identifier", ",".join(numbers)), ("_count", str(PAGE_SIZE))]
    by = _first_param(enc, "participant", "practitioner") if enc else None
    if practitioner is not None and by is not None:
        params.append((by, practitioner))
    include = _first_include(enc, "Encounter:subject", "Encounter:patient") if enc else None
    params += [("_include", include)] if include else []
    result = await client.search("Encounter", params, limit=MAX_VISITS)
    patients = {p["id"]: p for p in result.included if _is(p, "Patient")}
    missing = _patients_missing([result], patients)
    if missing:
        found = await client.search("Patient", [("_id", ",".join(sorted(missing)))])
        patients.update({p["id"]: p for p in found.resources if _is(p, "Patient")})
    return _visits([result], patients)


# ---------------------------------------------------------------- running


async def _run_batch(
    client: FhirClient, searches: Sequence[_Search]
) -> tuple[list[SearchResult], int]:
    answer = await client.batch(
        [{"request": {"method": "GET", "url": s.relative_url}} for s in searches]
    )
    results: list[SearchResult] = []
    trips = 1
    for search, entry in zip(searches, answer.get("entry") or [], strict=True):
        bundle = entry.get("resource") if isinstance(entry, Mapping) else None
        status = str((entry.get("response") or {}).get("status", "")) if entry else ""
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            if search.resource_type == "Appointment":
                log.info("worklist: the appointment search was refused (%s)", status[:3])
                continue
            raise FhirUnexpectedResponse(
                "The EHR did not answer the encounter search. Try again (F5).",
                detail=f"batch entry status {status[:40]}",
            )
        result = await client.collect(
            bundle, limit=MAX_VISITS, what=f"searching {search.resource_type}"
        )
        trips += result.pages - 1
        results.append(result)
    return results, trips


async def _run_each(
    client: FhirClient, searches: Sequence[_Search]
) -> tuple[list[SearchResult], int]:
    async def one(search: _Search) -> SearchResult | None:
        try:
            return await client.search(search.resource_type, search.params, limit=MAX_VISITS)
        except FhirError:
            if search.resource_type == "Appointment":  # the encounters are what matters
                log.info("worklist: the appointment search failed; encounters only")
                return None
            raise

    done = await asyncio.gather(*(one(s) for s in searches))
    results = [r for r in done if r is not None]
    return results, sum(r.pages for r in results) + (len(done) - len(results))


# ---------------------------------------------------------------- mapping


def _is(resource: Any, resource_type: str) -> bool:
    return (
        isinstance(resource, dict)
        and resource.get("resourceType") == resource_type
        and isinstance(resource.get("id"), str)
    )


def _reference_id(reference: object, resource_type: str) -> str | None:
    if not isinstance(reference, Mapping) or not isinstance(reference.get("reference"), str):
        return None
    parts = str(reference["reference"]).rstrip("/").split("/")
    for i in range(len(parts) - 1):
        if parts[i] == resource_type and parts[i + 1]:
            return parts[i + 1]
    return None


def _appointment_patient(raw: JsonObject) -> str | None:
    for participant in raw.get("participant") or []:
        if isinstance(participant, Mapping):
            pid = _reference_id(participant.get("actor"), "Patient")
            if pid:
                return pid
    return None


def _patient_of(raw: JsonObject) -> str | None:
    if raw.get("resourceType") == "Appointment":
        return _appointment_patient(raw)
    return _reference_id(raw.get("subject"), "Patient")


def _patients_missing(
    results: Sequence[SearchResult], patients: Mapping[str, JsonObject]
) -> set[str]:
    wanted = {pid for r in results for raw in r.resources if (pid := _patient_of(raw))}
    return wanted - set(patients)


def _visits(results: Sequence[SearchResult], patients: Mapping[str, JsonObject]) -> list[Visit]:
    encounters = [raw for r in results for raw in r.resources if _is(raw, "Encounter")]
    appointments = [raw for r in results for raw in r.resources if _is(raw, "Appointment")]
    summaries: dict[str, PatientSummary] = {}
    for pid, raw in patients.items():
        try:
            summaries[pid] = guarded("Patient", raw, functools.partial(map_patient, raw))
        except FhirMappingError:
            log.warning("worklist: Patient %s could not be read", pid[:64])
    visits: list[Visit] = []
    for raw in encounters:
        visit = _guarded_visit(raw, patients, summaries, _encounter_visit)
        if visit is not None and visit.status.shown:
            visits.append(visit)
    booked = {
        _reference_id(a, "Appointment") for e in encounters for a in e.get("appointment") or []
    }
    arrived = {v.patient_id for v in visits}
    for raw in appointments:
        if raw["id"] in booked or _appointment_patient(raw) in arrived:
            continue  # the encounter stands for it
        visit = _guarded_visit(raw, patients, summaries, _appointment_visit)
        if visit is not None and visit.status.shown:
            visits.append(visit)
    return visits


def _guarded_visit(
    raw: JsonObject,
    patients: Mapping[str, JsonObject],
    summaries: Mapping[str, PatientSummary],
    make: Any,
) -> Visit | None:
    rtype = str(raw.get("resourceType"))
    try:
        return guarded(rtype, raw, lambda: make(raw, patients, summaries))  # type: ignore[no-any-return]
    except FhirMappingError:
        log.warning("worklist: %s %s could not be read", rtype, str(raw.get("id"))[:64])
        return None


def _patient_fields(
    pid: str | None, patients: Mapping[str, JsonObject], summaries: Mapping[str, PatientSummary]
) -> dict[str, Any]:
    if pid is None:
        raise FhirMappingError("Encounter", None, "no patient")
    summary = summaries.get(pid)
    raw = patients.get(pid) or {}
    identifiers = tuple(
        str(i["value"]) for i in raw.get("identifier") or []
        if isinstance(i, Mapping) and isinstance(i.get("value"), str) and i["value"].strip()
    )  # fmt: skip
    return {
        "patient_id": pid,
        "patient_name": summary.name if summary else "(patient not shown by the EHR)",
        "birth_date": summary.birth_date if summary else None,
        "mrn": summary.mrn if summary else None,
        "patient_identifiers": identifiers,
    }


def visit_number(raw: JsonObject) -> str | None:
    """Encounter.identifier typed VN (visit number), else its first identifier's value."""
    identifiers = [
        i
        for i in raw.get("identifier") or []
        if isinstance(i, Mapping) and isinstance(i.get("value"), str)
    ]
    for ident in identifiers:
        codings = (ident.get("type") or {}).get("coding") or []
        if any(isinstance(c, Mapping) and c.get("code") == VISIT_NUMBER_CODE for c in codings):
            return str(ident["value"])
    return str(identifiers[0]["value"]) if identifiers else None


def _encounter_visit(
    raw: JsonObject, patients: Mapping[str, JsonObject], summaries: Mapping[str, PatientSummary]
) -> Visit:
    period = raw.get("period") if isinstance(raw.get("period"), Mapping) else {}
    assert isinstance(period, Mapping)
    types = [t for c in raw.get("type") or [] if (t := concept_text(c))]
    klass = raw.get("class")
    class_text = (klass.get("display") or klass.get("code")) if isinstance(klass, Mapping) else None
    return Visit(
        key=f"Encounter/{raw['id']}",
        encounter_id=raw["id"],
        start=parse_instant(period.get("start")),
        type_text=types[0] if types else str(class_text or "Visit"),
        status=VisitStatus.from_encounter(raw.get("status")),
        visit_number=visit_number(raw),
        **_patient_fields(_patient_of(raw), patients, summaries),
    )


def _appointment_visit(
    raw: JsonObject, patients: Mapping[str, JsonObject], summaries: Mapping[str, PatientSummary]
) -> Visit:
    kinds = [concept_text(raw.get("appointmentType"))]
    kinds += [concept_text(c) for c in raw.get("serviceType") or []]
    text = next((k for k in kinds if k), None) or str(raw.get("description") or "Appointment")
    return Visit(
        key=f"Appointment/{raw['id']}",
        start=parse_instant(raw.get("start")),
        type_text=text[:80],
        status=VisitStatus.from_appointment(raw.get("status")),
        **_patient_fields(_appointment_patient(raw), patients, summaries),
    )
