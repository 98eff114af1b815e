"""Who a follow-up task can be given to, as the EHR knows them: the patient's care team
(``CareTeam?patient=…&status=active``) and a directory search by name (``Practitioner?name=…``,
with each one's ``PractitionerRole`` for the words under the name).

Returns :class:`app.domain.owners.OwnerCandidate`; the services merge them with the
encounter's participants and keep them for offline use. A server that does not know a search
parameter may answer with nothing rather than an error (the peer EHR does): that is simply no
candidates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.domain.clinical import Reference
from app.domain.owners import OWNER_TYPES, OwnerCandidate, OwnerSource
from app.fhir.client import FhirClient
from app.fhir.fhir_reading import concept_text, human_name

MAX_DIRECTORY_MATCHES = 20


def _role_words(concepts: object) -> str | None:
    """The first role or specialty as words: "Registered nurse", "Family practice"."""
    for concept in concepts if isinstance(concepts, list) else []:
        text = concept_text(concept)
        if text:
            for suffix in (" (occupation)", " (qualifier value)"):
                text = text.removesuffix(suffix)
            return text[:1].upper() + text[1:]
    return None


def care_team_candidates(bundle_resources: Sequence[Mapping[str, Any]]) -> list[OwnerCandidate]:
    """The members of the care teams found (a team without named members: the team itself)."""
    found: list[OwnerCandidate] = []
    for team in bundle_resources:
        team_ref = Reference("CareTeam", str(team.get("id") or ""), _str(team.get("name")))
        members = [p for p in team.get("participant") or [] if isinstance(p, Mapping)]
        for participant in members:
            member = participant.get("member")
            ref = (
                Reference.parse(str(member.get("reference") or ""))
                if isinstance(member, Mapping)
                else None
            )
            if ref is None or ref.resource_type not in OWNER_TYPES:
                continue
            name = _str(member.get("display")) if isinstance(member, Mapping) else None
            found.append(
                OwnerCandidate(
                    ref,
                    name or ref.relative,
                    _role_words(participant.get("role")),
                    OwnerSource.CARE_TEAM,
                )
            )
        if team_ref.id and team_ref.display:
            found.append(
                OwnerCandidate(team_ref, team_ref.display, "Care team", OwnerSource.CARE_TEAM)
            )
    return found


def directory_candidates(
    practitioners: Sequence[Mapping[str, Any]], roles: Sequence[Mapping[str, Any]]
) -> list[OwnerCandidate]:
    """Practitioners found by name, each with the words of its first role (or specialty)."""
    role_of: dict[str, str] = {}
    for role in roles:
        practitioner = role.get("practitioner")
        target = (
            Reference.parse(str(practitioner.get("reference") or ""))
            if isinstance(practitioner, Mapping)
            else None
        )
        words = _role_words(role.get("specialty")) or _role_words(role.get("code"))
        if target is not None and words:
            role_of.setdefault(target.id, words)
    found = []
    for practitioner in practitioners:
        pid = str(practitioner.get("id") or "")
        name = human_name(practitioner.get("name"))
        if pid and name:
            ref = Reference("Practitioner", pid, name)
            found.append(OwnerCandidate(ref, name, role_of.get(pid), OwnerSource.DIRECTORY))
    return found


async def care_team(client: FhirClient, patient: Reference) -> list[OwnerCandidate]:
    result = await client.search(
        "CareTeam", {"patient": patient.relative, "status": "active"}, limit=20
    )
    return care_team_candidates(result.resources)


async def search_directory(client: FhirClient, name: str) -> list[OwnerCandidate]:
    """Practitioners whose name matches ``name`` (the EHR's own name search), with roles."""
    typed = " ".join(name.split())
    if len(typed) < 2:
        return []
    found = await client.search(
        "Practitioner", {"name": typed, "_count": str(MAX_DIRECTORY_MATCHES)},
        limit=MAX_DIRECTORY_MATCHES,
    )  # fmt: skip
    ids = [str(p.get("id")) for p in found.resources if p.get("id")]
    roles: tuple[Mapping[str, Any], ...] = ()
    if ids:
        targets = ",".join(f"Practitioner/{i}" for i in ids)
        roles = (
            await client.search("PractitionerRole", {"practitioner": targets}, limit=50)
        ).resources
    return directory_candidates(found.resources, roles)


def _str(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
