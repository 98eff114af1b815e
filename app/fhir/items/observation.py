"""Observation items <-> FHIR Observation (vital signs and laboratory values, LOINC + UCUM)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from app.domain.clinical import Coding, MeasurementKind
from app.domain.items.observation import (
    LOINC,
    UCUM,
    ObservationComponent,
    ObservationItem,
)
from app.domain.terminology import Concept, terminology
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

SURVEY = "survey"  # patient-reported symptoms (app.fhir.items.symptom) when not LOINC-coded


def _code(loinc_code: str, name: str, known: Concept | None) -> JsonObject:
    """LOINC coding with LOINC's display; the clinician's name for it as ``text``."""
    display = known.display if known is not None else (name or None)
    code = concept(Coding(LOINC, loinc_code, display))
    if name and name.strip():
        code["text"] = name.strip()
    return code


def _quantity(value: Decimal, unit: str | None, known: Concept | None, item_id: str) -> JsonObject:
    quantity: JsonObject = {"value": number(value, item_id)}
    if unit:
        shown = terminology().shown_unit(unit, known) or unit
        quantity.update(unit=shown, system=UCUM, code=unit)
    return quantity


def _components(item: ObservationItem) -> list[JsonObject]:
    terms, out = terminology(), []
    for part in item.components:
        known = terms.concept(part.loinc_code)
        component: JsonObject = {"code": _code(part.loinc_code, part.display, known)}
        if part.value is not None:
            component["valueQuantity"] = _quantity(part.value, part.unit, known, item.item_id)
        else:
            component["dataAbsentReason"] = {"text": "No value recorded"}
        out.append(component)
    return out


def to_fhir(item: ObservationItem, ctx: WriteContext) -> JsonObject:
    known = terminology().concept(item.loinc_code)
    obs: JsonObject = {
        "resourceType": "Observation",
        "status": "final",
        "code": _code(item.loinc_code, item.display, known),
        "subject": ref(ctx.patient, display=False),
        "encounter": ref(ctx.encounter, display=False),
        "effectiveDateTime": instant(item.effective or ctx.approved_at),
        "issued": ctx.when,
        "performer": [ctx.clinician],
    }
    if known is not None:
        cat = known.category
        obs["category"] = [concept(Coding(OBS_CATEGORY_SYSTEM, cat.value, cat.display))]
    if item.components:
        obs["component"] = _components(item)
    elif item.value is not None:
        obs["valueQuantity"] = _quantity(item.value, item.unit, known, item.item_id)
    else:
        obs["dataAbsentReason"] = {"text": "No value recorded"}
    if item.note and item.note.strip():
        obs["note"] = [{"text": item.note}]
    return obs


def _loinc_coded(resource: Mapping[str, Any]) -> bool:
    code = resource.get("code")
    codings = code.get("coding") if isinstance(code, Mapping) else None
    return any(isinstance(c, Mapping) and c.get("system") == LOINC for c in (codings or []))


def claims(resource: Mapping[str, Any]) -> bool:
    """Every Observation but a reported symptom (category survey without a LOINC code): the
    scores of the terminology (PHQ-9, pain) are surveys too, and LOINC-coded."""
    if resource.get("resourceType") != "Observation":
        return False
    return not has_category(resource, OBS_CATEGORY_SYSTEM, SURVEY) or _loinc_coded(resource)


def from_fhir(resource: Mapping[str, Any]) -> ObservationItem:
    kind = (
        MeasurementKind.LABORATORY
        if has_category(resource, OBS_CATEGORY_SYSTEM, "laboratory")
        else MeasurementKind.VITAL_SIGN
    )
    m = map_observation(resource, kind)
    loinc = m.code.code if m.code is not None and m.code.system == LOINC and m.code.code else ""
    known = terminology().concept(loinc) if loinc else None
    display = m.display if not known or m.display != known.display else known.name
    parts = tuple(
        ObservationComponent(
            c.code.code if c.code is not None and c.code.code else "", c.display, c.value, c.unit
        )
        for c in m.components
    )
    return ObservationItem(
        m.id, loinc, display, m.value, m.unit, m.effective, notes_of(resource), parts
    )


def _quantity_words(q: object) -> str | None:
    if not isinstance(q, Mapping):
        return None
    return f"{q.get('value')} {q.get('unit', '')}".strip()


def _name(code: object) -> str:
    """What clinicians call the observation: the code's text, else the terminology's name for
    its LOINC code, else the coding's display ("Blood pressure", not LOINC's panel title)."""
    if isinstance(code, Mapping):
        if isinstance(code.get("text"), str) and code["text"].strip():
            return str(code["text"]).strip()
        for c in code.get("coding") or []:
            known = terminology().concept(str(c.get("code"))) if isinstance(c, Mapping) else None
            if known is not None and c.get("system") == LOINC:
                return known.name
    return concept_words(code)


def describe(p: Mapping[str, Any]) -> str:
    value = _quantity_words(p.get("valueQuantity"))
    parts = [c for c in p.get("component") or [] if isinstance(c, Mapping)]
    if value is None and parts:
        numbers = [str((c.get("valueQuantity") or {}).get("value", "?")) for c in parts]
        units = {str((c.get("valueQuantity") or {}).get("unit", "")) for c in parts}
        value = "/".join(numbers) + (f" {units.pop()}" if len(units) == 1 else "")
    value = value or "no value"
    when = time_words(p.get("effectiveDateTime"))
    category = concept_words((p.get("category") or [None])[0], default="")
    return (
        f"{_name(p.get('code'))}: {value}"
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
