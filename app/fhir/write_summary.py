"""Each write of a commit in plain words, for the approval dialog ("exactly what will be
written") and the outbox panel. Read from the frozen payloads, so what is described is what is
sent. Contains clinical content (task and message text): for the screen, never for logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.domain.commit import ApprovedCommit, PlannedWrite
from app.domain.hidden_text import shown

LABELS = {
    "DocumentReference": "Note",
    "Composition": "Structured note",
    "Observation": "Observation",
    "Task": "Follow-up task",
    "Communication": "Message to the care team",
    "Provenance": "Provenance",
}


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
    p = write.payload()
    describe = _DESCRIBERS.get(write.resource_type, _generic)
    return WriteDescription(
        write.position,
        write.resource_type,
        LABELS.get(write.resource_type, write.resource_type),
        describe(p),
    )


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


def _observation(p: Mapping[str, Any]) -> str:
    q = p.get("valueQuantity")
    value = (
        f"{q.get('value')} {q.get('unit', '')}".strip() if isinstance(q, Mapping) else "no value"
    )
    when = _time(p.get("effectiveDateTime"))
    category = _concept((p.get("category") or [None])[0], default="")
    return (
        f"{_concept(p.get('code'))}: {value}"
        + (f" at {when}" if when else "")
        + (f" ({category.lower()})." if category else ".")
    )


def _task(p: Mapping[str, Any]) -> str:
    due = (p.get("executionPeriod") or {}).get("end")
    return (
        f"“{p.get('description', '')}” for {_who(p.get('owner'))}"
        + (f", due {due}" if due else "")
        + f", {p.get('status')}, {p.get('priority', 'routine')}."
    )


def _communication(p: Mapping[str, Any]) -> str:
    text = " ".join(str(x.get("contentString", "")) for x in p.get("payload") or [])
    to = ", ".join(_who(r) for r in p.get("recipient") or []) or "nobody"
    return f"To {to}: “{text}”"


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
    "Observation": _observation,
    "Task": _task,
    "Communication": _communication,
    "Provenance": _provenance,
}


def _who(ref: object) -> str:
    """Who or what a reference names, hidden (bidi, zero-width) characters made visible."""
    if not isinstance(ref, Mapping):
        return "unknown"
    return shown(str(ref.get("display") or ref.get("reference") or "unknown"))


def _concept(cc: object, default: str = "unknown") -> str:
    if not isinstance(cc, Mapping):
        return default
    for c in cc.get("coding") or []:
        if isinstance(c, Mapping) and (c.get("display") or c.get("code")):
            return str(c.get("display") or c.get("code"))
    return str(cc.get("text") or default)


def _time(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M %Z").strip()
    except ValueError:
        return value
