"""Encounter context over real HTTP against both EHRs (``ehr``): banner data, every section,
round trips, paging, and a malformed resource skipped and reported in its section."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from typing import Any

import httpx
import pytest

from app.domain.chart_history import HistoryState
from app.domain.clinical import AdministrativeSex, MeasurementKind
from app.domain.context import SectionKind
from app.fhir.client import FhirClient
from app.fhir.context_loader import ContextLoadOptions, LoadStrategy, load_encounter_context
from app.fhir.context_older import older_items
from app.fhir.context_queries import ResultOrder
from app.fhir.errors import EncounterPatientMismatch, FhirNotFound
from app.fhir.patient_search import list_encounters, search_patients
from tests.fhir.conftest import BearerAuth, RequestLog, access_token, bearer
from tests.support.servers import RunningServer


async def test_banner_and_every_section_for_pat1_enc1(
    fhir: FhirClient, requests_log: RequestLog
) -> None:
    ctx = await load_encounter_context(fhir, "pat-1", "enc-1")
    p = ctx.patient
    assert (p.id, p.name, p.birth_date, p.sex, p.mrn) == (
        "pat-1",
        "Maria Elena Garcia",
        date(1968, 4, 12),
        AdministrativeSex.FEMALE,
        "MRN-1001",
    )
    assert p.age(date(2025, 3, 10)) == 56
    e = ctx.encounter
    assert e.id == "enc-1" and e.class_code is not None and e.class_code.code == "AMB"
    assert e.period_start is not None and e.period_start.tzinfo is not None
    assert any(
        part.individual.id == "prac-1" and part.individual.display for part in e.participants
    )
    for kind in SectionKind:
        section = ctx.section(kind)
        assert section.error is None, (kind, section.error)
        assert section.items, kind
    problems = {x.display for x in ctx.problems.items}
    assert any("Diabetes" in d for d in problems)
    assert all(v.kind is MeasurementKind.VITAL_SIGN for v in ctx.vitals.items)
    assert any(v.code and v.code.code == "8867-4" for v in ctx.latest_vitals())
    assert any(n.text and n.type_display for n in ctx.notes.items)
    assert ctx.source == fhir.fhir_base


async def test_batch_path_needs_at_most_two_round_trips(
    fhir: FhirClient, ehr: RunningServer
) -> None:
    """The CapabilityStatement (once per client), then two batches sent together: the patient
    and the encounter (the banner shows when they are in), and the sections' searches; on the
    peer EHR the vital signs' and results' searches go beside them, each on its own, unsorted
    (the app orders them: app.fhir.context_order). A round trip is a request sent while none is in
    flight (as benchmarks/latency_proxy.py counts them)."""
    caps = await fhir.capabilities()
    assert caps.batch, "both EHRs declare batch"
    events: list[str] = []
    in_flight: list[int] = [0, 0]  # requests in flight, round trips

    async def sent(request: httpx.Request) -> None:
        events.append(f"sent {request.method}")
        in_flight[1] += in_flight[0] == 0
        in_flight[0] += 1

    async def answered(response: httpx.Response) -> None:
        events.append(f"answered {response.request.method}")
        in_flight[0] -= 1

    hooks = {"request": [sent], "response": [answered]}
    header: list[str] = []
    async with httpx.AsyncClient(timeout=30, event_hooks=hooks) as http:
        fresh = FhirClient(http, fhir.fhir_base, BearerAuth(access_token(ehr)))
        ctx = await load_encounter_context(
            fresh, "pat-1", "enc-1", on_header=lambda p, e: header.append(f"{p.id} {e.id}")
        )
    alone = ["sent GET", "sent GET"] if ehr.name == "peer" else []
    assert events[:2] == ["sent GET", "answered GET"]
    assert sorted(e for e in events[2:] if e.startswith("sent")) == sorted(
        ["sent POST", "sent POST", *alone]
    )
    assert in_flight == [0, 2]
    assert header == ["pat-1 enc-1"] and ctx.vitals.items


@pytest.mark.parametrize("strategy", [LoadStrategy.CONCURRENT, LoadStrategy.SEQUENTIAL])
async def test_other_paths_give_the_same_context(fhir: FhirClient, strategy: LoadStrategy) -> None:
    batch = await load_encounter_context(
        fhir, "pat-1", "enc-1", options=ContextLoadOptions(strategy=LoadStrategy.BATCH)
    )
    concurrent = await load_encounter_context(
        fhir, "pat-1", "enc-1", options=ContextLoadOptions(strategy=strategy)
    )
    for kind in SectionKind:
        a, b = batch.section(kind), concurrent.section(kind)
        assert {i.id for i in a.items} == {i.id for i in b.items}, kind  # type: ignore[attr-defined]
    assert batch.patient == concurrent.patient and batch.encounter == concurrent.encounter


@pytest.mark.parametrize("strategy", [LoadStrategy.BATCH, LoadStrategy.CONCURRENT])
async def test_paging_is_followed(fhir: FhirClient, strategy: LoadStrategy) -> None:
    whole = await load_encounter_context(
        fhir, "pat-1", "enc-1", options=ContextLoadOptions(strategy=strategy)
    )
    paged = await load_encounter_context(
        fhir, "pat-1", "enc-1", options=ContextLoadOptions(strategy=strategy, page_size=2)
    )
    assert len(whole.vitals.items) > 2
    assert {v.id for v in paged.vitals.items} == {v.id for v in whole.vitals.items}
    assert {n.id for n in paged.notes.items} == {n.id for n in whole.notes.items}


async def test_limits_truncate_visibly(fhir: FhirClient) -> None:
    server_sorts = ContextLoadOptions(
        vitals_limit=3, page_size=2, observation_order=ResultOrder.SERVER
    )
    ctx = await load_encounter_context(fhir, "pat-1", "enc-1", options=server_sorts)
    assert len(ctx.vitals.items) == 3
    assert ctx.vitals.truncated
    # the last page held more than the limit: its rest has no link, so nothing continues it
    assert ctx.vitals.more == ()
    # ordered by the app, the rest is held: it continues
    in_app = replace(server_sorts, observation_order=ResultOrder.APP)
    ctx = await load_encounter_context(fhir, "pat-1", "enc-1", options=in_app)
    assert len(ctx.vitals.items) == 3 and ctx.vitals.truncated and ctx.vitals.more


async def test_a_truncated_section_says_where_it_continues(fhir: FhirClient) -> None:
    ctx = await load_encounter_context(
        fhir, "pat-1", "enc-1", options=ContextLoadOptions(vitals_limit=4, page_size=2)
    )
    assert len(ctx.vitals.items) == 4 and ctx.vitals.truncated
    ((continuation,),) = (ctx.vitals.more,)
    assert continuation.search == "vitals" and continuation.url.startswith(fhir.fhir_base)
    assert ctx.problems.more == ()  # complete sections have nothing to continue


async def test_malformed_resource_is_skipped_and_reported(
    ehr: RunningServer, fhir: FhirClient
) -> None:
    """An Observation the server accepts (valid FHIR) but the app cannot show: no value at all."""
    marker = f"odd-{uuid.uuid4().hex[:8]}"
    odd = {
        "resourceType": "Observation",
        "status": "final",
        "identifier": [{"system": "urn:test", "value": marker}],
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]
        },
        "subject": {"reference": "Patient/pat-3"},
        "effectiveDateTime": "2030-01-01T00:00:00Z",
        "extension": [{"url": "http://vendor.example/ext/odd", "valueString": "unknown extension"}],
    }
    async with httpx.AsyncClient(timeout=15) as http:
        created = await http.post(f"{ehr.fhir_base}/Observation", json=odd, headers=bearer(ehr))
    assert created.status_code == 201, created.text
    odd_id = created.json()["id"]
    ctx = await load_encounter_context(fhir, "pat-3", "enc-4")
    skipped = [s for s in ctx.vitals.skipped if s.id == odd_id]
    assert skipped and "no result value" in skipped[0].reason
    assert ctx.vitals.items, "the other vital signs are still there"
    assert ctx.problems.items and ctx.problems.error is None


async def test_encounter_of_another_patient_is_refused(fhir: FhirClient) -> None:
    with pytest.raises(EncounterPatientMismatch) as exc:
        await load_encounter_context(fhir, "pat-1", "enc-2")  # enc-2 belongs to pat-2
    assert "another patient" in exc.value.user_message


async def test_unknown_encounter(fhir: FhirClient) -> None:
    with pytest.raises(FhirNotFound):
        await load_encounter_context(fhir, "pat-1", "enc-does-not-exist")


async def test_patient_and_encounter_pickers(fhir: FhirClient) -> None:
    found = await search_patients(fhir, name="Garcia")
    assert [p.id for p in found.items] == ["pat-1"]
    by_mrn = await search_patients(fhir, mrn="MRN-1002")
    assert [p.id for p in by_mrn.items] == ["pat-2"]
    encounters = await list_encounters(fhir, "pat-2")
    ids = [e.id for e in encounters.items]
    assert {"enc-2", "enc-3"} <= set(ids)
    starts = [e.period_start for e in encounters.items if e.period_start]
    assert starts == sorted(starts, reverse=True)
    assert all(e.subject is None or e.subject.id == "pat-2" for e in encounters.items)


# ----------------------------------------------------------------------------- wrong patient

ENCOUNTER = {
    "resourceType": "Encounter",
    "status": "in-progress",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
}


@pytest.fixture
async def sandbox_fhir(sandbox_server: RunningServer) -> AsyncIterator[FhirClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield FhirClient(http, sandbox_server.fhir_base, BearerAuth(access_token(sandbox_server)))


async def create(server: RunningServer, resource: dict[str, Any]) -> str:
    async with httpx.AsyncClient(timeout=15) as http:
        created = await http.post(
            f"{server.fhir_base}/{resource['resourceType']}", json=resource, headers=bearer(server)
        )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_an_encounter_that_names_no_patient_is_refused(
    sandbox_server: RunningServer, sandbox_fhir: FhirClient
) -> None:
    encounter_id = await create(sandbox_server, ENCOUNTER)
    with pytest.raises(EncounterPatientMismatch) as exc:
        await load_encounter_context(sandbox_fhir, "pat-1", encounter_id)
    words = exc.value.user_message
    assert f"Encounter {encounter_id} does not say which patient it belongs to" in words
    assert "Maria Elena Garcia (Patient/pat-1)" in words and "Nothing was loaded" in words


async def test_an_encounter_of_a_same_id_patient_on_another_server_is_refused(
    sandbox_server: RunningServer, sandbox_fhir: FhirClient
) -> None:
    elsewhere = {"reference": "https://other-ehr.example/fhir/Patient/pat-1"}
    encounter_id = await create(sandbox_server, {**ENCOUNTER, "subject": elsewhere})
    with pytest.raises(EncounterPatientMismatch) as exc:
        await load_encounter_context(sandbox_fhir, "pat-1", encounter_id)
    assert "names a patient on another server" in exc.value.user_message
    assert exc.value.detail == f"Encounter/{encounter_id}: OTHER_SERVER"


async def test_an_absolute_reference_to_this_server_is_the_patients(
    sandbox_server: RunningServer, sandbox_fhir: FhirClient
) -> None:
    here = {"reference": f"{sandbox_server.fhir_base}/Patient/pat-1"}
    encounter_id = await create(sandbox_server, {**ENCOUNTER, "subject": here})
    ctx = await load_encounter_context(sandbox_fhir, "pat-1", encounter_id)
    assert ctx.encounter.id == encounter_id and ctx.patient.id == "pat-1"


async def test_a_same_id_patients_observation_from_another_server_is_not_shown(
    sandbox_server: RunningServer, sandbox_fhir: FhirClient
) -> None:
    vital = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": "https://other-ehr.example/fhir/Patient/pat-3"},
        "effectiveDateTime": "2031-01-01T00:00:00Z",
        "valueQuantity": {"value": 180, "unit": "/min"},
    }
    observation_id = await create(sandbox_server, vital)
    ctx = await load_encounter_context(sandbox_fhir, "pat-3", "enc-4")
    assert observation_id not in {m.id for m in ctx.vitals.items}
    skipped = [s for s in ctx.vitals.skipped if s.id == observation_id]
    assert skipped and skipped[0].reason == "it names a patient on another server"


async def test_older_items_are_paged_in_on_both_ehrs(fhir: FhirClient) -> None:
    """Whether the EHR keeps paging links in the bundles of a batch (the sandbox) or leaves
    them out (the peer EHR): the older items are read after the first view, none twice."""
    whole = await load_encounter_context(fhir, "pat-1", "enc-1")
    first = await load_encounter_context(
        fhir, "pat-1", "enc-1", options=ContextLoadOptions(vitals_limit=4, page_size=4)
    )
    assert len(whole.vitals.items) > 4
    assert first.vitals.truncated and first.vitals.more

    async def now() -> None:
        return None

    histories = [
        h async for h in older_items(fhir, first, SectionKind.VITALS, limit=2000, turn=now)
    ]
    final = histories[-1]
    assert final.state is HistoryState.COMPLETE, final.words
    assert sorted(v.id for v in final.items) == sorted(v.id for v in whole.vitals.items)
