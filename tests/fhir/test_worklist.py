"""The day's visits over real HTTP on both EHRs: the sandbox's own clinic day, and on the peer
EHR (whose seed is dated) visits created for today in the test setup."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.domain.worklist import VisitStatus
from app.fhir.client import FhirClient
from app.fhir.worklist import load_worklist, visits_by_number
from tests.fhir.conftest import RequestLog, bearer
from tests.support.clinic_day import PEER_PATIENTS, ensure_peer_day, local_zone
from tests.support.servers import RunningServer

PRAC = "Practitioner/prac-1"


@pytest.fixture
def today(ehr: RunningServer) -> date:
    day = date.today()
    if ehr.name != "sandbox":
        ensure_peer_day(ehr.fhir_base, bearer(ehr), day)
    return day


async def test_the_day_of_prac1_in_at_most_two_round_trips(
    ehr: RunningServer, fhir: FhirClient, requests_log: RequestLog, today: date
) -> None:
    await fhir.capabilities()  # read at sign-in
    requests_log.clear()
    worklist = await load_worklist(fhir, PRAC, today, local_zone())
    assert len(requests_log) == worklist.round_trips <= 2, requests_log.urls
    visits = worklist.visits
    if ehr.name == "sandbox":
        assert 12 <= len(visits) <= 20
        statuses = {v.status for v in visits}
        assert {VisitStatus.FINISHED, VisitStatus.ARRIVED, VisitStatus.PLANNED} <= statuses
        assert all(v.mrn and v.mrn.startswith("MRN-2") for v in visits), visits
        assert all(v.visit_number and v.visit_number.startswith("V") for v in visits)
    else:
        assert {v.patient_id for v in visits} >= set(PEER_PATIENTS)
        booked = [v for v in visits if v.key.startswith("Appointment/")]
        assert [v.patient_id for v in booked] == ["wl-pat-4"]  # wl-pat-2 has an encounter
        assert booked[0].status is VisitStatus.PLANNED and not booked[0].can_open
        assert booked[0].patient_name == "Test Worklist4" and booked[0].mrn == "MRN-WL-4"
        assert requests_log.urls[0].startswith("POST ")  # Encounter + Appointment: one batch
    starts = [v.start for v in visits if v.start is not None]
    assert starts == sorted(starts)
    zone = local_zone()
    assert all(s.astimezone(zone).date() == today for s in starts)
    assert all(v.patient_name and v.patient_name != "(no name recorded)" for v in visits)
    assert all(v.can_open for v in visits if v.key.startswith("Encounter/"))


async def test_another_day_has_other_visits(fhir: FhirClient, today: date) -> None:
    tomorrow = await load_worklist(fhir, PRAC, today + timedelta(days=400), local_zone())
    assert tomorrow.visits == ()


async def test_visits_found_by_their_visit_number(
    ehr: RunningServer, fhir: FhirClient, today: date
) -> None:
    day = await load_worklist(fhir, PRAC, today, local_zone())
    numbers = [v.visit_number for v in day.visits if v.visit_number][:2]
    found = await visits_by_number(fhir, [n for n in numbers if n])
    assert {v.visit_number for v in found} == set(numbers)
    assert all(v.patient_name and v.encounter_id for v in found)
