"""Follow-up tasks for someone on the care team; written as Task (intent order, focus = the
note)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from enum import Enum
from typing import Any

from app.domain.clinical import Reference
from app.domain.due_dates import parse_due
from app.domain.items.kind import (
    CodecPart,
    Column,
    ImportField,
    ImportPart,
    ImportReader,
    ItemCheck,
    ItemKind,
    KindWords,
    NoteRole,
    Picker,
    new_item_id,
)
from app.domain.items.parts import (
    cell_text,
    check_not_other_patient,
    day_from,
    day_json,
    enter_person,
    parse_choice,
    person_cell,
    ref_from,
    ref_json,
)
from app.domain.validation_problems import (
    MAX_ITEM_TEXT_CHARS,
    ProblemKind,
    ValidationProblem,
    check_text,
    error,
)


class TaskStatus(Enum):
    DRAFT = "draft"
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in-progress"
    ON_HOLD = "on-hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Priority(Enum):
    ROUTINE = "routine"
    URGENT = "urgent"
    ASAP = "asap"
    STAT = "stat"


@dataclass(frozen=True)
class TaskItem:
    """A follow-up task for someone on the care team."""

    item_id: str
    description: str
    owner: Reference | None
    due: date | None
    status: TaskStatus = TaskStatus.REQUESTED
    priority: Priority = Priority.ROUTINE


def check_task(item: TaskItem, ctx: ItemCheck) -> Iterable[ValidationProblem]:
    base = f"item:{item.item_id}"
    if not item.description.strip():
        yield error(
            f"{base}:description",
            ProblemKind.TASK_INCOMPLETE,
            "Describe the follow-up task (what should be done).",
        )
    else:
        yield from check_text(
            f"{base}:description", "The task description", item.description, MAX_ITEM_TEXT_CHARS
        )
    if item.owner is None:
        yield error(
            f"{base}:owner",
            ProblemKind.TASK_INCOMPLETE,
            "Choose who owns the follow-up task: type part of a name and pick from the list.",
        )
    else:
        yield from check_not_other_patient(f"{base}:owner", item.owner, ctx.patient, "task owner")
    if item.status is None:  # defensive: a draft file could carry none
        yield error(f"{base}:status", ProblemKind.TASK_INCOMPLETE, "Choose a status for the task.")


def render(item: TaskItem) -> str:
    """``Follow-up: Recheck blood pressure in 2 weeks (Clinic nurses, due 2025-03-24)``."""
    details = [person_cell(item.owner)] if item.owner is not None else []
    if item.due is not None:
        details.append(f"due {item.due.isoformat()}")
    if item.priority is not Priority.ROUTINE:
        details.append(item.priority.value)
    return f"Follow-up: {item.description.strip()}" + (
        f" ({', '.join(details)})" if details else ""
    )


def read_import(r: ImportReader, raw: Mapping[str, Any], path: str) -> TaskItem | None:
    item_id = r.item_id(raw, path)
    description = r.text(raw.get("description"), f"{path}.description")
    owner = r.reference(raw.get("owner"), f"{path}.owner", None, required=False)
    due = r.day(raw.get("due"), f"{path}.due")
    status = r.choice(TaskStatus, raw.get("status"), f"{path}.status") or TaskStatus.REQUESTED
    priority = r.choice(Priority, raw.get("priority"), f"{path}.priority") or Priority.ROUTINE
    r.item_flags(raw, path, item_id)
    if description is None:
        return None
    return TaskItem(item_id, description, owner, due, status, priority)


def encode(i: TaskItem) -> dict[str, Any]:
    return {
        "item_id": i.item_id,
        "description": i.description,
        "owner": ref_json(i.owner),
        "due": day_json(i.due),
        "status": i.status.value,
        "priority": i.priority.value,
    }


def decode(d: Mapping[str, Any]) -> TaskItem:
    return TaskItem(
        item_id=d["item_id"],
        description=d["description"],
        owner=ref_from(d["owner"]),
        due=day_from(d["due"]),
        status=TaskStatus(d["status"]),
        priority=Priority(d["priority"]),
    )


TASK: ItemKind[TaskItem] = ItemKind(
    key="task",
    item_type=TaskItem,
    resource_type="Task",
    permissions="crus",
    write_rank=30,
    words=KindWords(
        singular="follow-up task",
        plural="follow-up tasks",
        label="Follow-up task",
        row="Task",
        tab="Tasks",
        add="Add follow-up task",
        cannot="create tasks",
        fails="the follow-up task cannot be filed",
    ),
    role=NoteRole.PLAN,
    render=render,
    name_of=lambda i: i.description.strip(),
    check=check_task,
    import_part=ImportPart(
        key="tasks",
        title="Task",
        summary="follow-up tasks",
        fields=(
            ImportField("id", False, "as for observations"),
            ImportField("description", True, "what is to be done"),
            ImportField(
                "owner",
                False,
                '`{"reference": "Practitioner/<id>", "display": "Dr. …"}` or `"Practitioner/<id>"`',
            ),
            ImportField("due", False, 'date, e.g. `"2025-06-10"`'),
            ImportField(
                "status",
                False,
                "`draft`, `requested` (default), `accepted`, `in-progress`, "
                "`on-hold`, `completed`, `cancelled`",
            ),
            ImportField("priority", False, "`routine` (default), `urgent`, `asap`, `stat`"),
            ImportField("uncertainty", False, "list of flags"),
        ),
        read=read_import,
    ),
    codec=CodecPart(encode, decode),
    columns=(
        Column(
            "Task",
            "description",
            lambda i: i.description,
            lambda i, t: replace(i, description=t.strip()),
        ),
        Column(
            "Owner",
            "owner",
            lambda i: person_cell(i.owner),
            enter=lambda i, t, ctx: replace(i, owner=enter_person(i.owner, t, ctx)),
            picker=Picker.OWNER,
            hint="Who does it: type part of a name (in this visit, the care team or the "
            "directory) and pick from the list",
        ),
        Column(
            "Due",
            "due",
            lambda i: cell_text(i.due),
            enter=lambda i, t, ctx: replace(i, due=parse_due(t, ctx)),
            picker=Picker.DUE_DATE,
            hint="When: tomorrow, +2w, in 3 days, next Monday, 3/12 or 2025-06-10",
        ),
        Column(
            "Status",
            "status",
            lambda i: i.status.value,
            lambda i, t: replace(i, status=parse_choice(TaskStatus, t, TaskStatus.REQUESTED)),
            hint="requested, accepted, in-progress, on-hold, completed, cancelled",
            choices=tuple(s.value for s in TaskStatus),
        ),
    ),
    new_item=lambda: TaskItem(new_item_id(), "", None, None),
)
