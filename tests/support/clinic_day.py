"""Today's visits on an EHR that has none (the peer EHR's seed is dated): created over HTTP,
as a scheduling system would, so the worklist has a day to read. The sandbox writes its own
clinic day at start-up (app/sandbox/clinic_day.py)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

import httpx

V2 = "http://terminology.hl7.org/CodeSystem/v2-0203"
VISIT_SYSTEM = "urn:example:visit"
_done: set[tuple[str, date]] = set()


def local_zone() -> tzinfo:
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


def encounter(
    eid: str, patient: str, start: datetime, status: str, number: str, practitioner: str = "prac-1"
) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": status,
        "identifier": [
            {
                "type": {"coding": [{"system": V2, "code": "VN"}]},
                "system": VISIT_SYSTEM,
                "value": number,
            }
        ],
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "AMB",
            "display": "ambulatory",
        },
        "type": [{"text": "Follow-up encounter"}],
        "subject": {"reference": f"Patient/{patient}"},
        "participant": [{"individual": {"reference": f"Practitioner/{practitioner}"}}],
        "period": {"start": start.isoformat()},
    }


def appointment(aid: str, patient: str, start: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": aid,
        "status": "booked",
        "serviceType": [{"text": "Annual review"}],
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=20)).isoformat(),
        "participant": [
            {"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"},
            {"actor": {"reference": "Practitioner/prac-1"}, "status": "accepted"},
        ],
    }


PEER_PATIENTS = ("wl-pat-1", "wl-pat-2", "wl-pat-3", "wl-pat-4")


def patient(pid: str, n: int) -> dict[str, Any]:
    """Patients of the worklist's own: the seed's keep their latest encounter (the peer puts
    it in context at sign-in, and other tests write notes on it)."""
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [
            {
                "type": {"coding": [{"system": V2, "code": "MR"}]},
                "system": "urn:example:mrn",
                "value": f"MRN-WL-{n}",
            }
        ],
        "name": [{"family": f"Worklist{n}", "given": ["Test"]}],
        "birthDate": f"19{60 + n}-0{n}-1{n}",
    }


def peer_day(day: date) -> list[dict[str, Any]]:
    """Three encounters and two appointments for prac-1 on ``day``: one appointment's patient
    has an encounter (the encounter stands for it: left off), the other has none (listed)."""
    zone = local_zone()
    at = [datetime.combine(day, time(h, m), tzinfo=zone) for h, m in ((9, 0), (9, 30), (10, 0))]
    stamp = f"{day:%Y%m%d}"
    p1, p2, p3, p4 = PEER_PATIENTS
    return [
        *(patient(pid, n) for n, pid in enumerate(PEER_PATIENTS, start=1)),
        encounter(f"wl-{stamp}-1", p1, at[0], "finished", f"PV{stamp}1"),
        encounter(f"wl-{stamp}-2", p2, at[1], "in-progress", f"PV{stamp}2"),
        encounter(f"wl-{stamp}-3", p3, at[2], "arrived", f"PV{stamp}3"),
        appointment(f"wl-{stamp}-a", p2, datetime.combine(day, time(16, 0), tzinfo=zone)),
        appointment(f"wl-{stamp}-b", p4, datetime.combine(day, time(16, 30), tzinfo=zone)),
    ]


def put_all(fhir_base: str, headers: dict[str, str], resources: list[dict[str, Any]]) -> None:
    with httpx.Client(timeout=30) as http:
        for resource in resources:
            url = f"{fhir_base}/{resource['resourceType']}/{resource['id']}"
            response = http.put(url, json=resource, headers=headers)
            assert response.status_code in (200, 201), (url, response.text[:500])


def ensure_peer_day(fhir_base: str, headers: dict[str, str], day: date) -> None:
    if (fhir_base, day) not in _done:
        put_all(fhir_base, headers, peer_day(day))
        _done.add((fhir_base, day))
