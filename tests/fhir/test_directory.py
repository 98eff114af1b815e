"""Task-owner candidates from a real EHR over HTTP (the sandbox and the peer EHR): the
patient's care team and a directory search by name with each practitioner's role. The peer's
seed has no CareTeam or PractitionerRole, so the test writes its own on both servers."""

from __future__ import annotations

import uuid

from app.domain.clinical import Reference
from app.domain.owners import OwnerSource
from app.fhir.client import FhirClient
from app.fhir.directory import care_team, search_directory

PATIENT = Reference("Patient", "pat-1")


async def test_care_team_members_are_candidates(fhir: FhirClient) -> None:
    name = f"Diabetes team {uuid.uuid4().hex[:6]}"
    await fhir.create({
        "resourceType": "CareTeam", "status": "active", "name": name,
        "subject": {"reference": "Patient/pat-1"},
        "participant": [{
            "role": [{"coding": [{"system": "http://snomed.info/sct", "code": "224535009",
                                  "display": "Registered nurse (occupation)"}]}],
            "member": {"reference": "Practitioner/prac-2", "display": "Dr. Robert Jones"},
        }],
    })  # fmt: skip
    found = await care_team(fhir, PATIENT)
    jones = [c for c in found if c.reference.relative == "Practitioner/prac-2"]
    assert jones and jones[0].source is OwnerSource.CARE_TEAM
    assert any(c.role == "Registered nurse" for c in jones)
    assert any(c.reference.resource_type == "CareTeam" and c.name == name for c in found)


async def test_the_directory_is_searched_by_name_with_roles(fhir: FhirClient) -> None:
    await fhir.create({
        "resourceType": "PractitionerRole", "active": True,
        "practitioner": {"reference": "Practitioner/prac-2"},
        "specialty": [{"coding": [{"system": "http://snomed.info/sct", "code": "394579002",
                                   "display": "Cardiology (qualifier value)"}]}],
    })  # fmt: skip
    found = await search_directory(fhir, "jones")
    assert [c.reference.relative for c in found] == ["Practitioner/prac-2"]
    assert "Jones" in found[0].name and found[0].source is OwnerSource.DIRECTORY
    assert found[0].role is not None
    assert await search_directory(fhir, "zzqx") == []
    assert await search_directory(fhir, "j") == [], "one letter is not a search"
