"""The resource types the sandbox serves and the search parameters it indexes for each.

This table is the single source of truth: the indexer, the search engine, the scope checks
(patient compartment) and the CapabilityStatement all read it, so what the server declares is
what it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ParamKind(Enum):
    TOKEN = "token"
    REFERENCE = "reference"
    DATE = "date"
    STRING = "string"


@dataclass(frozen=True)
class SearchParam:
    name: str
    kind: ParamKind
    paths: tuple[str, ...]  # dotted element paths; choice types listed one by one
    targets: tuple[str, ...] = ()  # reference parameters: allowed target types (empty: any)
    description: str = ""


def _tok(name: str, *paths: str) -> SearchParam:
    return SearchParam(name, ParamKind.TOKEN, paths)


def _ref(name: str, *paths: str, targets: tuple[str, ...] = ()) -> SearchParam:
    return SearchParam(name, ParamKind.REFERENCE, paths, targets)


def _date(name: str, *paths: str) -> SearchParam:
    return SearchParam(name, ParamKind.DATE, paths)


def _str(name: str, *paths: str) -> SearchParam:
    return SearchParam(name, ParamKind.STRING, paths)


PATIENT = ("Patient",)


def _clinical(
    subject: str = "subject", *, encounter: str | None = "encounter"
) -> list[SearchParam]:
    """identifier, patient, subject and (optionally) encounter: shared by clinical resources."""
    params = [
        _tok("identifier", "identifier"),
        _ref("patient", subject, targets=PATIENT),
        _ref("subject", subject),
    ]
    if encounter:
        params.append(_ref("encounter", encounter, targets=("Encounter",)))
    return params


_EFFECTIVE = ("effectiveDateTime", "effectivePeriod", "effectiveInstant")

SEARCH_PARAMS: dict[str, list[SearchParam]] = {
    "Patient": [
        _tok("identifier", "identifier"),
        _str("name", "name"),
        _str("family", "name.family"),
        _str("given", "name.given"),
        _date("birthdate", "birthDate"),
        _tok("gender", "gender"),
        _tok("active", "active"),
        _ref("general-practitioner", "generalPractitioner"),
        _ref("organization", "managingOrganization", targets=("Organization",)),
    ],
    "Practitioner": [
        _tok("identifier", "identifier"),
        _str("name", "name"),
        _str("family", "name.family"),
        _str("given", "name.given"),
        _tok("active", "active"),
    ],
    "PractitionerRole": [
        _tok("identifier", "identifier"),
        _ref("practitioner", "practitioner", targets=("Practitioner",)),
        _ref("organization", "organization", targets=("Organization",)),
        _tok("role", "code"),
        _tok("active", "active"),
    ],
    "Organization": [
        _tok("identifier", "identifier"),
        _str("name", "name", "alias"),
        _tok("active", "active"),
    ],
    "Location": [
        _tok("identifier", "identifier"),
        _str("name", "name", "alias"),
        _tok("status", "status"),
        _ref("organization", "managingOrganization", targets=("Organization",)),
    ],
    "Device": [
        _tok("identifier", "identifier"),
        _ref("patient", "patient", targets=PATIENT),
        _tok("status", "status"),
        _tok("type", "type"),
    ],
    "Encounter": [
        *_clinical(encounter=None),
        _tok("status", "status"),
        _tok("class", "class"),
        _tok("type", "type"),
        _date("date", "period"),
        _ref("participant", "participant.individual"),
        _ref("practitioner", "participant.individual", targets=("Practitioner",)),
        _ref("location", "location.location", targets=("Location",)),
        _ref("service-provider", "serviceProvider", targets=("Organization",)),
    ],
    "Condition": [
        *_clinical(),
        _tok("clinical-status", "clinicalStatus"),
        _tok("verification-status", "verificationStatus"),
        _tok("category", "category"),
        _tok("code", "code"),
        _date("onset-date", "onsetDateTime", "onsetPeriod"),
        _date("recorded-date", "recordedDate"),
        _ref("asserter", "asserter"),
    ],
    "Observation": [
        *_clinical(),
        _tok("status", "status"),
        _tok("category", "category"),
        _tok("code", "code"),
        _tok("component-code", "component.code"),
        _tok("value-concept", "valueCodeableConcept"),
        _date("date", *_EFFECTIVE),
        _ref("performer", "performer"),
        _ref("based-on", "basedOn"),
        _ref("has-member", "hasMember", targets=("Observation",)),
    ],
    "DiagnosticReport": [
        *_clinical(),
        _tok("status", "status"),
        _tok("category", "category"),
        _tok("code", "code"),
        _date("date", "effectiveDateTime", "effectivePeriod"),
        _date("issued", "issued"),
        _ref("result", "result", targets=("Observation",)),
        _ref("performer", "performer"),
    ],
    "MedicationRequest": [
        *_clinical(),
        _tok("status", "status"),
        _tok("intent", "intent"),
        _tok("category", "category"),
        _tok("code", "medicationCodeableConcept"),
        _ref("medication", "medicationReference", targets=("Medication",)),
        _date("authoredon", "authoredOn"),
        _ref("requester", "requester"),
    ],
    "MedicationStatement": [
        *_clinical(encounter=None),
        _ref("context", "context", targets=("Encounter",)),
        _tok("status", "status"),
        _tok("category", "category"),
        _tok("code", "medicationCodeableConcept"),
        _ref("medication", "medicationReference", targets=("Medication",)),
        _date("effective", "effectiveDateTime", "effectivePeriod"),
    ],
    "Medication": [
        _tok("identifier", "identifier"),
        _tok("code", "code"),
        _tok("status", "status"),
    ],
    "AllergyIntolerance": [
        _tok("identifier", "identifier"),
        _ref("patient", "patient", targets=PATIENT),
        _tok("clinical-status", "clinicalStatus"),
        _tok("verification-status", "verificationStatus"),
        _tok("category", "category"),
        _tok("type", "type"),
        _tok("criticality", "criticality"),
        _tok("code", "code"),
        _date("date", "recordedDate"),
    ],
    "Immunization": [
        _tok("identifier", "identifier"),
        _ref("patient", "patient", targets=PATIENT),
        _tok("status", "status"),
        _tok("vaccine-code", "vaccineCode"),
        _date("date", "occurrenceDateTime"),
    ],
    "Procedure": [
        *_clinical(),
        _tok("status", "status"),
        _tok("category", "category"),
        _tok("code", "code"),
        _date("date", "performedDateTime", "performedPeriod"),
    ],
    "CareTeam": [
        *_clinical(),
        _tok("status", "status"),
        _tok("category", "category"),
        _ref("participant", "participant.member"),
    ],
    "DocumentReference": [
        _tok("identifier", "masterIdentifier", "identifier"),
        _ref("patient", "subject", targets=PATIENT),
        _ref("subject", "subject"),
        _ref("encounter", "context.encounter", targets=("Encounter",)),
        _tok("status", "status"),
        _tok("type", "type"),
        _tok("category", "category"),
        _date("date", "date"),
        _date("period", "context.period"),
        _ref("author", "author"),
        _ref("relatesto", "relatesTo.target", targets=("DocumentReference",)),
        _tok("relation", "relatesTo.code"),
        _tok("contenttype", "content.attachment.contentType"),
        _tok("format", "content.format"),
    ],
    "Composition": [
        *_clinical(),
        _tok("status", "status"),
        _tok("type", "type"),
        _tok("category", "category"),
        _date("date", "date"),
        _ref("author", "author"),
        _str("title", "title"),
    ],
    "Provenance": [
        _ref("target", "target"),
        _ref("patient", "target", targets=PATIENT),
        _ref("agent", "agent.who"),
        _ref("entity", "entity.what"),
        _date("recorded", "recorded"),
    ],
    "Task": [
        *_clinical(subject="for"),
        _tok("status", "status"),
        _tok("intent", "intent"),
        _tok("code", "code"),
        _tok("business-status", "businessStatus"),
        _tok("priority", "priority"),
        _ref("owner", "owner"),
        _ref("requester", "requester"),
        _ref("focus", "focus"),
        _ref("based-on", "basedOn"),
        _ref("part-of", "partOf", targets=("Task",)),
        _date("authored-on", "authoredOn"),
        _date("period", "executionPeriod"),
    ],
    "Communication": [
        *_clinical(),
        _tok("status", "status"),
        _tok("category", "category"),
        _date("sent", "sent"),
        _date("received", "received"),
        _ref("recipient", "recipient"),
        _ref("sender", "sender"),
        _ref("based-on", "basedOn"),
        _ref("part-of", "partOf"),
    ],
}

# Parameters every type has. _id and _lastUpdated are answered from the resource table itself.
COMMON_PARAMS: list[SearchParam] = [
    SearchParam("_id", ParamKind.TOKEN, ("id",)),
    SearchParam("_lastUpdated", ParamKind.DATE, ("meta.lastUpdated",)),
    _tok("_tag", "meta.tag"),
    _tok("_profile", "meta.profile"),
    _tok("_security", "meta.security"),
]
TABLE_PARAMS = frozenset({"_id", "_lastUpdated"})

SUPPORTED_TYPES: tuple[str, ...] = tuple(sorted(SEARCH_PARAMS))

# How a resource belongs to a patient's compartment (SMART patient/ scopes). Types missing
# here (Practitioner, Organization, Medication ...) are shared reference data: patient/ scopes
# may read them but never write them. Patient is its own compartment; Provenance belongs to a
# patient when it targets them or a resource of theirs.
COMPARTMENT_PARAM = "patient"
COMPARTMENT_TYPES = frozenset(
    t for t, ps in SEARCH_PARAMS.items() if any(p.name == COMPARTMENT_PARAM for p in ps)
) | {"Patient"}

# Search result parameters (not filters) the engine understands.
RESULT_PARAMS = frozenset(
    {"_count", "_offset", "_sort", "_include", "_revinclude", "_summary", "_total", "_format"}
)


def params_of(resource_type: str) -> dict[str, SearchParam]:
    """Every search parameter of ``resource_type``, by name (common ones included)."""
    return {p.name: p for p in [*COMMON_PARAMS, *SEARCH_PARAMS.get(resource_type, [])]}


def indexed_params(resource_type: str) -> list[SearchParam]:
    """The parameters whose values are kept in index tables (all but _id and _lastUpdated)."""
    return [p for p in params_of(resource_type).values() if p.name not in TABLE_PARAMS]


def reference_params(resource_type: str) -> list[SearchParam]:
    return [p for p in SEARCH_PARAMS.get(resource_type, []) if p.kind is ParamKind.REFERENCE]


def may_target(param: SearchParam, target_type: str) -> bool:
    return not param.targets or target_type in param.targets
