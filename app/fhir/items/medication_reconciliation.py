"""Medication reconciliation items <-> FHIR MedicationStatement.

One MedicationStatement per reconciled medication: the medicine as the order names it
(``medicationCodeableConcept``), ``derivedFrom`` the MedicationRequest decided about, the
encounter as ``context``, the clinician as ``informationSource``. The decision maps to
``status`` (continue and changed: active, stopped: stopped, not taking: not-taken); because
continue and changed share a status, the decision itself is also kept in an extension, so
reading the chart back gives the same decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.domain.clinical import Reference
from app.domain.commit import CommitInvalid
from app.domain.items.medication_reconciliation import (
    ORDER_TYPE,
    MedicationDecision,
    MedicationReconciliationItem,
)
from app.fhir.errors import FhirMappingError
from app.fhir.fhir_reading import coding_of, concept_text
from app.fhir.items.base import (
    ItemMapping,
    JsonObject,
    WriteContext,
    concept_words,
    notes_of,
    ref,
)

DECISION_EXTENSION = (
    "https://fhir-writeback.example/fhir/StructureDefinition/reconciliation-decision"
)
STATUS: dict[MedicationDecision, str] = {
    MedicationDecision.CONTINUE: "active",
    MedicationDecision.CHANGED: "active",
    MedicationDecision.STOPPED: "stopped",
    MedicationDecision.NOT_TAKING: "not-taken",
}
_FROM_STATUS = {"active": MedicationDecision.CONTINUE, "stopped": MedicationDecision.STOPPED,
                "not-taken": MedicationDecision.NOT_TAKING}  # fmt: skip


def to_fhir(item: MedicationReconciliationItem, ctx: WriteContext) -> JsonObject:
    if item.decision is None:  # validation blocks this long before a commit is built
        raise CommitInvalid(f"medication reconciliation {item.item_id} has no decision")
    medication: JsonObject = {"text": item.medication.display or item.medication.relative}
    if item.code is not None and item.code.code:
        coding = {k: v for k, v in (("system", item.code.system), ("code", item.code.code),
                                    ("display", item.code.display)) if v}  # fmt: skip
        medication["coding"] = [coding]
    statement: JsonObject = {
        "resourceType": "MedicationStatement",
        "extension": [{"url": DECISION_EXTENSION, "valueCode": item.decision.value}],
        "status": STATUS[item.decision],
        "medicationCodeableConcept": medication,
        "subject": ref(ctx.patient, display=False),
        "context": ref(ctx.encounter, display=False),
        "effectiveDateTime": ctx.when,
        "dateAsserted": ctx.when,
        "informationSource": ctx.clinician,
        "derivedFrom": [ref(item.medication, display=False)],
    }
    if item.dosage and item.decision is MedicationDecision.CONTINUE:
        statement["dosage"] = [{"text": item.dosage}]
    if item.note and item.note.strip():
        statement["note"] = [{"text": item.note}]
    return statement


def claims(resource: Mapping[str, Any]) -> bool:
    return resource.get("resourceType") == "MedicationStatement"


def from_fhir(resource: Mapping[str, Any]) -> MedicationReconciliationItem:
    rid = str(resource.get("id") or "")
    concept = resource.get("medicationCodeableConcept")
    name = concept_text(concept)
    order = next(
        (
            parsed
            for d in resource.get("derivedFrom") or []
            if isinstance(d, Mapping)
            and (parsed := Reference.parse(str(d.get("reference") or ""))) is not None
            and parsed.resource_type == ORDER_TYPE
        ),
        None,
    )
    if order is None:
        raise FhirMappingError("MedicationStatement", rid or None, "it names no medication order")
    dosages = [d.get("text") for d in resource.get("dosage") or [] if isinstance(d, Mapping)]
    return MedicationReconciliationItem(
        item_id=rid,
        medication=Reference(order.resource_type, order.id, name),
        decision=_decision(resource),
        note=notes_of(resource),
        code=coding_of(concept),
        dosage=next((t for t in dosages if isinstance(t, str) and t.strip()), None),
    )


def _decision(resource: Mapping[str, Any]) -> MedicationDecision | None:
    for ext in resource.get("extension") or []:
        if isinstance(ext, Mapping) and ext.get("url") == DECISION_EXTENSION:
            found = next((d for d in MedicationDecision if d.value == ext.get("valueCode")), None)
            if found is not None:
                return found
    return _FROM_STATUS.get(str(resource.get("status")))


def describe(p: Mapping[str, Any]) -> str:
    decision = _decision(p)
    words = decision.words if decision else str(p.get("status"))
    note = " ".join(n for n in [notes_of(p)] if n)
    return f"{concept_words(p.get('medicationCodeableConcept'))}: {words}" + (
        f" — “{note}”." if note else "."
    )


MAPPING: ItemMapping[MedicationReconciliationItem] = ItemMapping(
    "medication_reconciliation", to_fhir, claims, from_fhir, describe
)
