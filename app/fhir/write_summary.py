"""Each write of a commit in plain words, for the approval dialog ("exactly what will be
written") and the outbox panel. Read from the frozen payloads, so what is described is what is
sent. Contains clinical content (task and message text): for the screen, never for logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.domain.commit import ApprovedCommit, PlannedWrite
from app.domain.items import type_label
from app.fhir.items import kind_of_resource, mapping_for
from app.fhir.items.base import concept_words as _concept
from app.fhir.items.base import who as _who


@dataclass(frozen=True)
class WriteDescription:
    position: int
    resource_type: str
    label: str  # "Follow-up task"
    text: str  # one sentence

    @property
    def heading(self) -> str:
        return f"{self.label} ({self.resource_type})"


def describe_commit(commit: ApprovedCommit) -> tuple[WriteDescription, ...]:
    return tuple(describe_write(w) for w in commit.writes)


def describe_write(write: PlannedWrite) -> WriteDescription:
    """An item's write in its kind's words (app/fhir/items/<kind>.py), the note's own writes
    here. An update says which chart record it changes, and how."""
    p = write.payload()
    kind = kind_of_resource(p)
    if kind is not None:
        label, text = kind.words.label, mapping_for(kind).describe(p)
    else:
        label = type_label(write.resource_type)
        text = _DESCRIBERS.get(write.resource_type, _generic)(p)
    if write.is_update:
        record = "the earlier note's record" if _pending(write) else f"{write.target}"
        if p.get("status") == "entered-in-error":
            text = f"Marks {record} as entered in error: {text}"
        else:
            text = f"Corrects {record} in place (status {p.get('status')}): {text}"
    return WriteDescription(write.position, write.resource_type, label, text)


def _pending(write: PlannedWrite) -> bool:
    return (write.target or "").startswith("urn:uuid:")


def _note(p: Mapping[str, Any]) -> str:
    attachment = (p.get("content") or [{}])[0].get("attachment", {})
    kind = "formatted text (XHTML)" if "xhtml" in attachment.get("contentType", "") else "text"
    parts = [
        f"{_concept(p.get('type'))}, {p.get('docStatus', 'no status')}",
        f"for {_who(p.get('subject'))}",
        f"in {_who(((p.get('context') or {}).get('encounter') or [None])[0])}",
        f"by {_who((p.get('author') or [None])[0])}",
        f"as {kind} ({attachment.get('size', '?')} bytes)",
    ]
    for rel in p.get("relatesTo") or []:
        parts.append(f"{rel.get('code', 'relates to')} {_who(rel.get('target'))}")
    return ", ".join(parts) + "."


def _composition(p: Mapping[str, Any]) -> str:
    n = len(p.get("section") or [])
    return f"{p.get('title', 'Note')}, {p.get('status')}, {n} section{'s' if n != 1 else ''}."


def _provenance(p: Mapping[str, Any]) -> str:
    agents = p.get("agent") or []
    who = _who(agents[0].get("who")) if agents else "unknown"
    device = _who(agents[1].get("who")) if len(agents) > 1 else "the app"
    n = len(p.get("target") or [])
    return f"Records that {who} approved these {n} records, sent by {device}."


def _generic(p: Mapping[str, Any]) -> str:
    return f"A {p.get('resourceType')} resource."


_DESCRIBERS = {
    "DocumentReference": _note,
    "Composition": _composition,
    "Provenance": _provenance,
}
