"""The whole loop, over real connections: the sandbox EHR (its clinic day) sends HL7 v2 events
(``--hl7-to``) to the WorklistService's MLLP listener; the service reads the visits they name
from the sandbox over FHIR and keeps the worklist current. Also: the offline copy, note states,
a burst of 1,000 messages."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from app.domain.clinical import Reference
from app.domain.site import Hl7Listener
from app.domain.worklist import NoteState, Visit, VisitStatus, Worklist, WorklistSource
from app.fhir.client import FhirClient
from app.hl7.listener import MllpListener
from app.services.errors import ServiceError
from app.services.session import SessionService
from app.services.worklist import WorklistService
from app.store.store import Store, open_store
from app.sync.store_thread import StoreThread
from tests.fhir.conftest import BearerAuth, access_token, bearer
from tests.hl7.support import MllpClient, adt, frame, oru
from tests.support.clinic_day import local_zone
from tests.support.drafts import make_draft
from tests.support.servers import RunningServer, free_port, start_sandbox

pytestmark = pytest.mark.slow


class FakeSession:
    """The signed-in clinician, as the worklist asks for it (its fhirUser)."""

    approver = Reference("Practitioner", "prac-1", "Dr. Alice Smith")
    working_offline = False


@dataclass
class Loop:
    sandbox: RunningServer
    service: WorklistService
    store: Store
    port: int
    http: httpx.AsyncClient
    worker: StoreThread  # the store thread the site's services share, as in the app

    def put(self, resource: dict[str, Any]) -> None:
        url = f"{self.sandbox.fhir_base}/{resource['resourceType']}/{resource['id']}"
        r = httpx.put(url, json=resource, headers=bearer(self.sandbox), timeout=30)
        assert r.status_code in (200, 201), r.text[:400]


@pytest.fixture(scope="module")
def sandbox_with_hl7(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, int]]:
    port = free_port()
    server = start_sandbox(
        tmp_path_factory.mktemp("hl7-sandbox"), auto_login="prac-1", hl7_to=f"127.0.0.1:{port}"
    )
    yield server, port
    server.stop()


def make_service(
    fhir: FhirClient,
    store: Store,
    worker: StoreThread,
    port: int | None,
    clock: Callable[[], datetime] | None = None,
) -> WorklistService:
    listener = None
    if port is not None:
        settings = Hl7Listener(port=port, frame_timeout_seconds=2)
        listener = lambda deliver: MllpListener(settings, deliver)  # noqa: E731
    return WorklistService(
        fhir,
        cast(SessionService, FakeSession()),
        store.db,
        store.worklist,
        worker,
        listener=listener,
        zone=local_zone(),
        **({"clock": clock} if clock else {}),
    )


@pytest.fixture
async def loop(sandbox_with_hl7: tuple[RunningServer, int], tmp_path: Path) -> AsyncIterator[Loop]:
    sandbox, port = sandbox_with_hl7
    store = open_store(tmp_path / "store.db")
    worker = StoreThread()
    async with httpx.AsyncClient(timeout=30) as http:
        fhir = FhirClient(http, sandbox.fhir_base, BearerAuth(access_token(sandbox)))
        service = make_service(fhir, store, worker, port)
        await service.start_listener()
        yield Loop(sandbox, service, store, port, http, worker)
        await service.stop_listener()
    worker.close()
    store.close()


async def until(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.05)


def row(service: WorklistService, key: str) -> Visit | None:
    return service.current.visit(key) if service.current else None


def new_encounter(
    eid: str, number: str, status: str, practitioner: str = "prac-1"
) -> dict[str, Any]:
    start = datetime.now().astimezone().replace(hour=17, minute=45, second=0, microsecond=0)
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": status,
        "identifier": [
            {
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "VN"}
                    ]
                },
                "value": number,
            }
        ],
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"text": "Walk-in"}],
        "subject": {"reference": "Patient/pat-c03"},
        "participant": [{"individual": {"reference": f"Practitioner/{practitioner}"}}],
        "period": {"start": start.isoformat()},
    }


async def test_registration_discharge_cancellations_and_results_reach_the_worklist(
    loop: Loop,
) -> None:
    service = loop.service
    day = await service.load()
    assert 12 <= len(day.visits) <= 20 and day.source is WorklistSource.LIVE
    eid, number = f"walkin-{uuid.uuid4().hex[:8]}", f"VW{uuid.uuid4().hex[:6]}"
    key = f"Encounter/{eid}"

    loop.put(new_encounter(eid, number, "arrived"))  # the sandbox sends ADT^A04
    await until(lambda: row(service, key) is not None)
    visit = row(service, key)
    assert (
        visit is not None
        and visit.patient_name == "Leila Haddad"
        and visit.status is VisitStatus.ARRIVED
    )

    loop.put(new_encounter(eid, number, "finished"))  # ADT^A03
    await until(lambda: row(service, key).status is VisitStatus.FINISHED)  # type: ignore[union-attr]
    loop.put(new_encounter(eid, number, "in-progress"))  # ADT^A13: discharge cancelled
    await until(lambda: row(service, key).status is VisitStatus.IN_PROGRESS)  # type: ignore[union-attr]
    loop.put(new_encounter(eid, number, "cancelled"))  # ADT^A11
    await until(lambda: row(service, key).status is VisitStatus.CANCELLED)  # type: ignore[union-attr]

    lab = {
        "resourceType": "Observation",
        "id": f"lab-{uuid.uuid4().hex[:8]}",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]},
        "subject": {"reference": "Patient/pat-c03"},
        "effectiveDateTime": datetime.now().astimezone().isoformat(),
        "valueQuantity": {"value": 5.4, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
    }  # fmt: skip
    loop.put(lab)  # ORU^R01 for MRN-2003
    await until(lambda: bool(row(service, key) and row(service, key).new_results))  # type: ignore[union-attr]
    assert all(v.new_results == (v.patient_id == "pat-c03") for v in service.current.visits)  # type: ignore[union-attr]

    before = service.counts.unknown_patients
    loop.put(
        new_encounter(
            f"other-{uuid.uuid4().hex[:8]}", f"VO{uuid.uuid4().hex[:6]}", "arrived", "prac-2"
        )
    )
    await until(lambda: service.counts.unknown_patients == before + 1)
    assert service.counts.rejected == 0


async def test_duplicates_and_a_malformed_message_from_an_engine(loop: Loop) -> None:
    service = loop.service
    day = await service.load()
    target = next(v for v in day.visits if v.status is VisitStatus.ARRIVED)
    client = await MllpClient.connect(loop.port)
    first = await client.send(adt("A03", target.visit_number or "", "ENG-DUP"))
    second = await client.send(adt("A03", target.visit_number or "", "ENG-DUP"))
    bad = await client.send(adt("A03", "", "ENG-BAD"))
    await client.close()
    assert (first.code, second.code, bad.code) == ("AA", "AA", "AE") and first.raw == second.raw
    await until(lambda: row(service, target.key).status is VisitStatus.FINISHED)  # type: ignore[union-attr]
    assert service.counts.duplicates >= 1 and service.counts.rejected >= 1


async def test_a_burst_of_1000_messages_leaves_a_consistent_worklist(loop: Loop) -> None:
    service = loop.service
    day = await service.load()
    published: list[Worklist] = []
    service.subscribe(published.append)
    visits = [v for v in day.visits if v.visit_number][:10]
    messages, expected = [], {}
    for i in range(1000):
        v = visits[i % len(visits)]
        if i % 10 == 9:
            messages.append(oru(f"MRN-UNKNOWN-{i}", f"BURST-{i}"))  # about no one here
            continue
        trigger = "A03" if (i // len(visits)) % 2 == 0 else "A13"
        messages.append(adt(trigger, v.visit_number or "", f"BURST-{i}"))
        expected[v.key] = VisitStatus.FINISHED if trigger == "A03" else VisitStatus.IN_PROGRESS
    unknown_before = service.counts.unknown_patients
    client = await MllpClient.connect(loop.port)
    started = time.perf_counter()
    await client.send_raw(b"".join(frame(m) for m in messages))
    acks = [await client.ack() for _ in messages]
    elapsed = time.perf_counter() - started
    await client.close()
    assert {a.code for a in acks} == {"AA"} and len(acks) == 1000
    await until(lambda: service.counts.unknown_patients - unknown_before == 100)
    await service.settle()
    current = service.current
    assert current is not None
    for key, status in expected.items():
        assert current.visit(key).status is status  # type: ignore[union-attr]
    assert len(published) < 100, "events are applied in batches, not one by one"
    assert elapsed < 10


async def test_offline_the_last_copy_is_shown_with_its_age(
    loop: Loop, sandbox_with_hl7: tuple[RunningServer, int]
) -> None:
    live = await loop.service.load()
    dead = FhirClient(loop.http, f"http://127.0.0.1:{free_port()}/fhir", BearerAuth("x"))
    offline = make_service(dead, loop.store, loop.worker, None)
    shown = await offline.load(live.day)
    assert shown.source is WorklistSource.CACHED
    assert [v.key for v in shown.visits] == [v.key for v in live.visits]
    assert shown.fetched_at == live.fetched_at and shown.age_words(local_zone()).startswith(
        "as of "
    )
    with pytest.raises(ServiceError, match="none are kept on this computer"):
        await offline.load(live.day + timedelta(days=3))


async def test_note_states_come_from_the_store(loop: Loop) -> None:
    day = await loop.service.load()
    visit = day.visits[0]
    assert visit.encounter_id is not None
    draft = make_draft()
    draft = replace(
        draft,
        patient=Reference("Patient", visit.patient_id),
        encounter=Reference("Encounter", visit.encounter_id),
    )
    loop.store.drafts.save(draft)
    refreshed = await loop.service.refresh_notes()
    assert refreshed is not None and refreshed.visits[0].note is NoteState.DRAFT
    assert all(v.note is NoteState.NONE for v in refreshed.visits[1:])


async def test_another_day(loop: Loop) -> None:
    today = loop.service.today()
    yesterday = await loop.service.load(today - timedelta(days=1))
    assert yesterday.day == today - timedelta(days=1) and yesterday.visits == ()
    assert isinstance(today, date)
