"""Follow-up task items <-> FHIR Task (intent order, focus = the note)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any, TypeVar

from app.domain.items.task import Priority, TaskItem, TaskStatus
from app.fhir.errors import FhirMappingError
from app.fhir.fhir_reading import References, parse_date
from app.fhir.items.base import ItemMapping, JsonObject, WriteContext, day, ref, who

E = TypeVar("E", bound=Enum)


def to_fhir(item: TaskItem, ctx: WriteContext) -> JsonObject:
    task: JsonObject = {
        "resourceType": "Task",
        "status": item.status.value,
        "intent": "order",
        "priority": item.priority.value,
        "description": item.description,
        "focus": ctx.note_urn,
        "for": ref(ctx.patient, display=False),
        "encounter": ref(ctx.encounter, display=False),
        "authoredOn": ctx.when,
        "requester": ctx.clinician,
    }
    if item.owner is not None:
        task["owner"] = ref(item.owner)
    if item.due is not None:
        task["executionPeriod"] = {"end": day(item.due)}
    return task


def claims(resource: Mapping[str, Any]) -> bool:
    return resource.get("resourceType") == "Task"


def from_fhir(resource: Mapping[str, Any]) -> TaskItem:
    rid = str(resource.get("id") or "")
    description = resource.get("description")
    if not isinstance(description, str) or not description.strip():
        raise FhirMappingError("Task", rid or None, "it has no description")
    period = resource.get("executionPeriod")
    due = parse_date(period.get("end")) if isinstance(period, Mapping) else None
    return TaskItem(
        item_id=rid,
        description=description.strip(),
        owner=References().resolve(resource.get("owner")),
        due=due,
        status=_member(TaskStatus, resource.get("status"), TaskStatus.REQUESTED),
        priority=_member(Priority, resource.get("priority"), Priority.ROUTINE),
    )


def _member(enum: type[E], value: object, default: E) -> E:
    return next((m for m in enum if m.value == value), default)


def describe(p: Mapping[str, Any]) -> str:
    due = (p.get("executionPeriod") or {}).get("end")
    return (
        f"“{p.get('description', '')}” for {who(p.get('owner'))}"
        + (f", due {due}" if due else "")
        + f", {p.get('status')}, {p.get('priority', 'routine')}."
    )


MAPPING: ItemMapping[TaskItem] = ItemMapping("task", to_fhir, claims, from_fhir, describe)
