"""Care-team message items <-> FHIR Communication (about = the note)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.domain.items.message import MessageItem
from app.domain.items.task import Priority
from app.fhir.errors import FhirMappingError
from app.fhir.fhir_reading import References
from app.fhir.items.base import ItemMapping, JsonObject, WriteContext, ref, who


def to_fhir(item: MessageItem, ctx: WriteContext) -> JsonObject:
    comm: JsonObject = {
        "resourceType": "Communication",
        "status": "completed",
        "priority": item.priority.value,
        "subject": ref(ctx.patient, display=False),
        "encounter": ref(ctx.encounter, display=False),
        "sender": ctx.clinician,
        "payload": [{"contentString": item.text}],
        "about": [ctx.note_urn],
    }
    if item.recipient is not None:
        comm["recipient"] = [ref(item.recipient)]
    return comm


def claims(resource: Mapping[str, Any]) -> bool:
    return resource.get("resourceType") == "Communication"


def from_fhir(resource: Mapping[str, Any]) -> MessageItem:
    rid = str(resource.get("id") or "")
    texts = [
        str(p["contentString"])
        for p in resource.get("payload") or []
        if isinstance(p, Mapping) and isinstance(p.get("contentString"), str)
    ]
    if not texts:
        raise FhirMappingError("Communication", rid or None, "it has no text")
    recipients = resource.get("recipient") or []
    priority = next((p for p in Priority if p.value == resource.get("priority")), Priority.ROUTINE)
    return MessageItem(
        item_id=rid,
        recipient=References().resolve(recipients[0]) if recipients else None,
        text="\n".join(texts),
        priority=priority,
    )


def describe(p: Mapping[str, Any]) -> str:
    text = " ".join(str(x.get("contentString", "")) for x in p.get("payload") or [])
    to = ", ".join(who(r) for r in p.get("recipient") or []) or "nobody"
    return f"To {to}: “{text}”"


MAPPING: ItemMapping[MessageItem] = ItemMapping("message", to_fhir, claims, from_fhir, describe)
