"""Messages to the care team; written as Communication (about = the note)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from app.domain.clinical import Reference
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
    check_not_other_patient,
    enter_person,
    parse_choice,
    person_cell,
    ref_from,
    ref_json,
)
from app.domain.items.task import Priority
from app.domain.validation_problems import (
    MAX_ITEM_TEXT_CHARS,
    ProblemKind,
    ValidationProblem,
    check_text,
    error,
)


@dataclass(frozen=True)
class MessageItem:
    """A message to the care team (becomes a Communication)."""

    item_id: str
    recipient: Reference | None
    text: str
    priority: Priority = Priority.ROUTINE


def check_message(item: MessageItem, ctx: ItemCheck) -> Iterable[ValidationProblem]:
    base = f"item:{item.item_id}"
    if item.recipient is None:
        yield error(
            f"{base}:recipient",
            ProblemKind.MESSAGE_INCOMPLETE,
            "Choose who receives the message to the care team.",
        )
    else:
        yield from check_not_other_patient(
            f"{base}:recipient", item.recipient, ctx.patient, "recipient"
        )
    if not item.text.strip():
        yield error(
            f"{base}:text", ProblemKind.MESSAGE_INCOMPLETE, "Write the message to the care team."
        )
    else:
        yield from check_text(f"{base}:text", "The message", item.text, MAX_ITEM_TEXT_CHARS)


def render(item: MessageItem) -> str:
    """``Message to Clinic nurses: Please call the patient about the lab results.``"""
    to = item.recipient.display or item.recipient.relative if item.recipient else "the care team"
    urgent = f" ({item.priority.value})" if item.priority is not Priority.ROUTINE else ""
    return f"Message to {to}{urgent}: {item.text.strip()}"


def read_import(r: ImportReader, raw: Mapping[str, Any], path: str) -> MessageItem | None:
    item_id = r.item_id(raw, path)
    recipient = r.reference(raw.get("recipient"), f"{path}.recipient", None, required=False)
    text = r.text(raw.get("text"), f"{path}.text")
    priority = r.choice(Priority, raw.get("priority"), f"{path}.priority") or Priority.ROUTINE
    r.item_flags(raw, path, item_id)
    if text is None:
        return None
    return MessageItem(item_id, recipient, text, priority)


def encode(i: MessageItem) -> dict[str, Any]:
    return {
        "item_id": i.item_id,
        "recipient": ref_json(i.recipient),
        "text": i.text,
        "priority": i.priority.value,
    }


def decode(d: Mapping[str, Any]) -> MessageItem:
    return MessageItem(
        item_id=d["item_id"],
        recipient=ref_from(d["recipient"]),
        text=d["text"],
        priority=Priority(d["priority"]),
    )


MESSAGE: ItemKind[MessageItem] = ItemKind(
    key="message",
    item_type=MessageItem,
    resource_type="Communication",
    permissions="crs",
    write_rank=40,
    words=KindWords(
        singular="message to the care team",
        plural="messages to the care team",
        label="Message to the care team",
        row="Message",
        tab="Messages to care team",
        add="Add message",
        cannot="send messages",
        fails="the message to the care team cannot be sent",
    ),
    role=NoteRole.PLAN,
    render=render,
    name_of=lambda i: i.text.strip(),
    check=check_message,
    import_part=ImportPart(
        key="messages",
        title="Message",
        summary="messages to the care team",
        fields=(
            ImportField("id", False, "as for observations"),
            ImportField("recipient", False, "reference, as for a task owner"),
            ImportField("text", True, "the message"),
            ImportField("priority", False, "as for tasks"),
            ImportField("uncertainty", False, "list of flags"),
        ),
        read=read_import,
    ),
    codec=CodecPart(encode, decode),
    columns=(
        Column(
            "To",
            "recipient",
            lambda i: person_cell(i.recipient),
            enter=lambda i, t, ctx: replace(i, recipient=enter_person(i.recipient, t, ctx)),
            picker=Picker.OWNER,
            hint="Who receives it: type part of a name and pick from the list",
        ),
        Column("Message", "text", lambda i: i.text, lambda i, t: replace(i, text=t.strip())),
        Column(
            "Priority",
            "priority",
            lambda i: i.priority.value,
            lambda i, t: replace(i, priority=parse_choice(Priority, t, Priority.ROUTINE)),
            hint="routine, urgent, asap or stat",
            choices=tuple(p.value for p in Priority),
        ),
    ),
    new_item=lambda: MessageItem(new_item_id(), None, ""),
)
