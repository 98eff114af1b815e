"""A realistic clinic day for ``prac-1`` on the day the sandbox starts: sixteen visits from
08:00 to 15:30 (the computer's local time), the morning's finished, one in progress, some
arrived or triaged, the afternoon booked, one cancelled. The worklist has something to show
on any day, and the HL7 sender (``--hl7-to``) something to announce.

Its patients are their own (``pat-c01`` …, MRN-2001 …): the seed's patients keep their
histories and their latest encounters, which sign-in puts in context. Written once per date:
a sandbox started again the same day finds the day there and leaves it alone, and a sandbox
still running after midnight writes the new day when the first request of that day comes in
(``ClinicDays``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from app.sandbox.fhir.database import ResourceDatabase
from app.sandbox.fhir.prefer import Prefer, ReturnPreference
from app.sandbox.fhir.scopes import Access
from app.sandbox.fhir.service import FhirService
from app.sandbox.fhir.transaction import BundleProcessor

log = logging.getLogger(__name__)

PRACTITIONER = "prac-1"
VISIT_SYSTEM = "http://sandbox.fhir-writeback.example/sid/visit"
MRN_SYSTEM = "http://sandbox.fhir-writeback.example/sid/mrn"
V2 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SNOMED = "http://snomed.info/sct"
TAG = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST"}
_BASE = "http://sandbox.invalid/fhir"


@dataclass(frozen=True)
class _Patient:
    family: str
    given: str
    gender: str
    born: str


# fictitious people of many origins (none of them is anyone)
PATIENTS = (
    _Patient("Lindqvist", "Astrid", "female", "1958-03-14"),
    _Patient("Mensah", "Kwame", "male", "1972-09-02"),
    _Patient("Haddad", "Leila", "female", "1989-05-27"),
    _Patient("Novak", "Tomas", "male", "1945-12-08"),
    _Patient("Ramírez", "Lucía", "female", "2012-07-19"),
    _Patient("Ivanova", "Daria", "female", "1966-01-30"),
    _Patient("Sato", "Kenji", "male", "1981-10-11"),
    _Patient("Mwangi", "Grace", "female", "1994-04-03"),
    _Patient("Fitzgerald", "Owen", "male", "1977-08-24"),
    _Patient("Kowalczyk", "Zofia", "female", "1939-02-17"),
    _Patient("Nguyen", "Bao", "male", "2003-06-09"),
    _Patient("Delacroix", "Margaux", "female", "1985-11-21"),
    _Patient("Abubakar", "Ibrahim", "male", "1960-07-05"),
    _Patient("Olsen", "Freya", "female", "2016-03-28"),
    _Patient("Castillo", "Mateo", "male", "1999-01-13"),
    _Patient("Kaur", "Simran", "female", "1973-05-30"),
)
# status of each slot, in order: the morning done, the day going on, the afternoon booked
STATUSES = (
    "finished", "finished", "finished", "finished", "finished",
    "in-progress", "arrived", "arrived", "triaged",
    "planned", "planned", "planned", "cancelled", "planned", "planned", "planned",
)  # fmt: skip
TYPES = (
    ("185349003", "Encounter for check up"),
    ("185345009", "Encounter for symptom"),
    ("390906007", "Follow-up encounter"),
)


def patient_id(index: int) -> str:
    return f"pat-c{index + 1:02d}"


def visit_number(day: date, index: int) -> str:
    return f"V{day:%Y%m%d}{index + 1:02d}"


def encounter_id(day: date, index: int) -> str:
    return f"day-{day:%Y%m%d}-{index + 1:02d}"


def _patient(index: int) -> dict[str, Any]:
    p = PATIENTS[index]
    return {
        "resourceType": "Patient",
        "id": patient_id(index),
        "meta": {"tag": [TAG]},
        "identifier": [
            {
                "use": "usual",
                "type": {"coding": [{"system": V2, "code": "MR"}]},
                "system": MRN_SYSTEM,
                "value": f"MRN-{2001 + index}",
            }
        ],
        "name": [{"use": "official", "family": p.family, "given": [p.given]}],
        "gender": p.gender,
        "birthDate": p.born,
    }


def _encounter(day: date, index: int, zone: Any) -> dict[str, Any]:
    start = datetime.combine(day, time(8, 0), tzinfo=zone) + timedelta(minutes=30 * index)
    status = STATUSES[index]
    code, display = TYPES[index % len(TYPES)]
    period = {"start": start.isoformat()}
    if status == "finished":
        period["end"] = (start + timedelta(minutes=25)).isoformat()
    return {
        "resourceType": "Encounter",
        "id": encounter_id(day, index),
        "meta": {"tag": [TAG]},
        "identifier": [
            {
                "use": "official",
                "type": {"coding": [{"system": V2, "code": "VN", "display": "Visit number"}]},
                "system": VISIT_SYSTEM,
                "value": visit_number(day, index),
            }
        ],
        "status": status,
        "class": {"system": ACT, "code": "AMB", "display": "ambulatory"},
        "type": [
            {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": display}
        ],
        "subject": {"reference": f"Patient/{patient_id(index)}"},
        "participant": [{"individual": {"reference": f"Practitioner/{PRACTITIONER}"}}],
        "period": period,
        "serviceProvider": {"reference": "Organization/org-1"},
    }


def clinic_day(day: date, zone: Any) -> dict[str, Any]:
    """The day as a transaction Bundle (patients first; PUT, so ids are stable)."""
    resources = [_patient(i) for i in range(len(PATIENTS))]
    resources += [_encounter(day, i, zone) for i in range(len(STATUSES))]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in resources
        ],
    }


def ensure_clinic_day(db: ResourceDatabase, day: date | None = None, zone: Any = None) -> bool:
    """Write ``day``'s clinic (default today, local time) unless it is there; True if written.
    Nothing is written to a store without ``Practitioner/prac-1`` (a test's own seed)."""
    local_now = datetime.now().astimezone()
    day = day or local_now.date()
    zone = zone or local_now.tzinfo
    if db.get("Practitioner", PRACTITIONER) is None:
        return False
    if db.get("Encounter", encounter_id(day, 0)) is not None:
        return False
    bundle = clinic_day(day, zone)
    if db.get("Patient", patient_id(0)) is not None:  # an earlier day made them
        bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Patient"]
    processor = BundleProcessor(FhirService(db, _BASE))
    processor.process(Access.system(), bundle, Prefer(ReturnPreference.MINIMAL))
    log.info("clinic day %s written: %d visits for %s", day, len(STATUSES), PRACTITIONER)
    return True


def local_today() -> date:
    return datetime.now().astimezone().date()


class ClinicDays:
    """Keeps the clinic day current for a sandbox that runs across midnight: ``ensure_today``
    (called before every request) writes the day the first time a request comes in on it. A
    date compared per request; the write, once a day, under a lock (the server's threads)."""

    def __init__(self, db: ResourceDatabase, today: Callable[[], date] = local_today) -> None:
        self._db = db
        self.today = today  # the local date (a test moves it past midnight)
        self._lock = threading.Lock()
        self._ensured: date | None = None

    def ensure_today(self) -> None:
        day = self.today()
        if day == self._ensured:
            return
        with self._lock:
            if day != self._ensured:
                ensure_clinic_day(self._db, day)
                self._ensured = day
