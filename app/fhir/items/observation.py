"""Observation items <-> FHIR Observation (vital signs and laboratory values, LOINC + UCUM)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.domain.clinical import Coding, MeasurementKind
from app.domain.items.observation import LOINC, UCUM, ObservationItem
from app.domain.observation_codes import known_observation, unit_display
from app.fhir.items.base import (
    OBS_CATEGORY_SYSTEM,
    ItemMapping,
    JsonObject,
    WriteContext,
    concept,
    concept_words,
    has_category,
    instant,
    notes_of,
    number,
    ref,
    time_words,
)
from app.fhir.mapping_in import map_observation

SURVEY = "survey"  # patient-reported symptoms (app.fhir.items.symptom)


def to_fhir(item: ObservationItem, ctx: WriteContext) -> JsonObject:
    known = known_observation(item.loinc_code)
    obs: JsonObject = {
        "resourceType": "Observation",
        "status": "final",
        "code": concept(
            Coding(LOINC, item.loinc_code, item.display or (known.display if known else None))
        ),
        "subject": ref(ctx.patient, display=False),
        "encounter": ref(ctx.encounter, display=False),
        "effectiveDateTime": instant(item.effective or ctx.approved_at),
        "issued": ctx.when,
        "performer": [ctx.clinician],
    }
    if known is not None:
        cat = known.category
        obs["category"] = [concept(Coding(OBS_CATEGORY_SYSTEM, cat.value, cat.display))]
    if item.value is not None:
        quantity: JsonObject = {"value": number(item.value, item.item_id)}
        if item.unit:
            quantity.update(unit=unit_display(item.unit), system=UCUM, code=item.unit)
        obs["valueQuantity"] = quantity
    else:
        obs["dataAbsentReason"] = {"text": "No value recorded"}
    if item.note and item.note.strip():
        obs["note"] = [{"text": item.note}]
    return obs


def claims(resource: Mapping[str, Any]) -> bool:
    return resource.get("resourceType") == "Observation" and not has_category(
        resource, OBS_CATEGORY_SYSTEM, SURVEY
    )


def from_fhir(resource: Mapping[str, Any]) -> ObservationItem:
    kind = (
        MeasurementKind.LABORATORY
        if has_category(resource, OBS_CATEGORY_SYSTEM, "laboratory")
        else MeasurementKind.VITAL_SIGN
    )
    m = map_observation(resource, kind)
    loinc = m.code.code if m.code is not None and m.code.system == LOINC and m.code.code else ""
    return ObservationItem(m.id, loinc, m.display, m.value, m.unit, m.effective, notes_of(resource))


def describe(p: Mapping[str, Any]) -> str:
    q = p.get("valueQuantity")
    value = (
        f"{q.get('value')} {q.get('unit', '')}".strip() if isinstance(q, Mapping) else "no value"
    )
    when = time_words(p.get("effectiveDateTime"))
    category = concept_words((p.get("category") or [None])[0], default="")
    return (
        f"{concept_words(p.get('code'))}: {value}"
        + (f" at {when}" if when else "")
        + (f" ({category.lower()})." if category else ".")
    )


def corrected_status(before: ObservationItem, after: ObservationItem) -> str:
    """R4: ``corrected`` when the result itself (code, value, unit) was wrong, ``amended`` for
    other changes (time, note)."""
    result = ("loinc_code", "value", "unit")
    if any(getattr(before, f) != getattr(after, f) for f in result):
        return "corrected"
    return "amended"


MAPPING: ItemMapping[ObservationItem] = ItemMapping(
    "observation", to_fhir, claims, from_fhir, describe, corrected_status
)
