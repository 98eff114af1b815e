"""Patient-reported symptom items <-> FHIR Observation, category ``survey``.

The symptom is the ``code`` (SNOMED CT where the app knows it, always with the words the
patient used as text), the severity the ``valueCodeableConcept`` (SNOMED CT mild / moderate /
severe), the onset the start of ``effectivePeriod`` (without one: the time of approval), and the
patient the ``performer``: they are the source of what is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.domain.clinical import Coding
from app.domain.items.symptom import SNOMED, SymptomItem, SymptomSeverity, coded
from app.fhir.errors import FhirMappingError
from app.fhir.fhir_reading import coding_of, concept_text, parse_date
from app.fhir.items.base import (
    OBS_CATEGORY_SYSTEM,
    ItemMapping,
    JsonObject,
    WriteContext,
    concept,
    concept_words,
    day,
    has_category,
    notes_of,
    ref,
)

SURVEY = Coding(OBS_CATEGORY_SYSTEM, "survey", "Survey")


def to_fhir(item: SymptomItem, ctx: WriteContext) -> JsonObject:
    code: JsonObject = concept(item.code) if item.code is not None else {}
    code["text"] = item.description.strip()
    obs: JsonObject = {
        "resourceType": "Observation",
        "status": "final",
        "category": [concept(SURVEY)],
        "code": code,
        "subject": ref(ctx.patient, display=False),
        "encounter": ref(ctx.encounter, display=False),
        "issued": ctx.when,
        "performer": [ref(ctx.patient, display=False)],
    }
    if item.onset is not None:
        obs["effectivePeriod"] = {"start": day(item.onset)}
    else:
        obs["effectiveDateTime"] = ctx.when
    if item.severity is not None:
        severity = concept(item.severity.coding)
        severity["text"] = item.severity.value
        obs["valueCodeableConcept"] = severity
    else:
        obs["dataAbsentReason"] = {"text": "Severity not stated"}
    if item.note and item.note.strip():
        obs["note"] = [{"text": item.note}]
    return obs


def claims(resource: Mapping[str, Any]) -> bool:
    return resource.get("resourceType") == "Observation" and has_category(
        resource, OBS_CATEGORY_SYSTEM, SURVEY.code or ""
    )


def from_fhir(resource: Mapping[str, Any]) -> SymptomItem:
    rid = str(resource.get("id") or "")
    description = concept_text(resource.get("code"))
    if description is None:
        raise FhirMappingError("Observation", rid or None, "it names no symptom")
    value = coding_of(resource.get("valueCodeableConcept"), SNOMED)
    severity = next(
        (s for s in SymptomSeverity if value is not None and value.code == s.coding.code), None
    )
    period = resource.get("effectivePeriod")
    onset = parse_date(period.get("start")) if isinstance(period, Mapping) else None
    code = coding_of(resource.get("code"), SNOMED)
    return SymptomItem(
        item_id=rid,
        description=description,
        severity=severity,
        onset=onset,
        note=notes_of(resource),
        code=code if code is not None and code.system == SNOMED else coded(description),
    )


def describe(p: Mapping[str, Any]) -> str:
    code = p.get("code")
    text = code.get("text") if isinstance(code, Mapping) else None
    name = str(text or concept_words(code))
    severity = concept_words(p.get("valueCodeableConcept"), default="severity not stated")
    onset = (p.get("effectivePeriod") or {}).get("start")
    return f"{name}: {severity.lower()}" + (f", since {onset}" if onset else "") + "."


def corrected_status(before: SymptomItem, after: SymptomItem) -> str:
    """A survey Observation: ``corrected`` when what was reported (symptom, severity) was
    recorded wrongly, ``amended`` for other changes (onset, note)."""
    if (before.description, before.severity, before.code) != (
        after.description,
        after.severity,
        after.code,
    ):
        return "corrected"
    return "amended"


MAPPING: ItemMapping[SymptomItem] = ItemMapping(
    "symptom", to_fhir, claims, from_fhir, describe, corrected_status
)
