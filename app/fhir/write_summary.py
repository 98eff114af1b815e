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
    text: str  # one sentence, in clinical words

    @property
    def heading(self) -> str:
        """What clinicians read: "Follow-up task" (the resource type is for IT: ``technical``)."""
        return self.label

    @property
    def technical(self) -> str:
        """ "Follow-up task — FHIR Task": for the FHIR detail view (IT)."""
        return f"{self.label} — FHIR {self.resource_type}"


def describe_commit(commit: ApprovedCommit) -> tuple[WriteDescription, ...]:
    return tuple(describe_write(w) for w in commit.writes)


def describe_write(write: PlannedWrite) -> WriteDescription:
    """An item's write in its kind's words (app/fhir/items/<kind>.py), the note's own writes
    here. An update says which chart record it changes, and how."""
    p = write.payload()
    kind = kind_of_resource(p)
    if kind is not None:
        label, text = kind.words.label, mapping_for(kind).describe(p)
        label = _CATEGORY_LABEL.get(_category(p), label) if kind.key == "observation" else label
    else:
        label = type_label(write.resource_type)
        text = _DESCRIBERS.get(write.resource_type, _generic)(p)
    if write.is_update:
        # which chart record: in words here; its FHIR reference is in the detail for IT
        record = "the earlier note's record" if _pending(write) else f"the chart's {label.lower()}"
        if p.get("status") == "entered-in-error":
            text = f"Marks {record} as entered in error: {text}"
        else:
            text = f"Corrects {record} in place (status {p.get('status')}): {text}"
    return WriteDescription(write.position, write.resource_type, label, text)


def _pending(write: PlannedWrite) -> bool:
    return (write.target or "").startswith("urn:uuid:")


# An observation reads as what it is to a clinician: a vital sign, a result, a score
_CATEGORY_LABEL = {
    "vital-signs": "Vital sign",
    "laboratory": "Lab result",
    "exam": "Measurement",
    "survey": "Score",
}


def _category(p: Mapping[str, Any]) -> str:
    for category in p.get("category") or []:
        for coding in category.get("coding") or [] if isinstance(category, Mapping) else []:
            if isinstance(coding, Mapping) and coding.get("code"):
                return str(coding["code"])
    return ""


_RELATION_WORDS = {
    "replaces": "replacing an earlier version of the note",
    "appends": "added to an earlier note",
    "transforms": "made from an earlier note",
}


def _note(p: Mapping[str, Any]) -> str:
    """ "Progress note, final, by Dr. Alex Chen, for this visit, as formatted text." (what the
    EHR files; where it goes and its size are in the FHIR detail)."""
    attachment = (p.get("content") or [{}])[0].get("attachment", {})
    kind = "formatted text" if "xhtml" in attachment.get("contentType", "") else "plain text"
    parts = [
        f"{_concept(p.get('type'))}, {p.get('docStatus', 'no status')}",
        f"by {_person((p.get('author') or [None])[0])}",
        "for this visit",
        f"as {kind}",
    ]
    for rel in p.get("relatesTo") or []:
        parts.append(_RELATION_WORDS.get(str(rel.get("code")), "linked to an earlier note"))
    return ", ".join(parts) + "."


def _person(reference: object) -> str:
    """Who, by name; a reference without one reads as the approving clinician (the FHIR
    reference is in the detail for IT)."""
    if isinstance(reference, Mapping) and reference.get("display"):
        return _who(reference)
    return "the approving clinician"


def _composition(p: Mapping[str, Any]) -> str:
    n = len(p.get("section") or [])
    return (
        f"{p.get('title', 'Note')} as a structured document, {p.get('status')}, "
        f"{n} section{'s' if n != 1 else ''}."
    )


def _provenance(p: Mapping[str, Any]) -> str:
    agents = p.get("agent") or []
    who = _person(agents[0].get("who")) if agents else "the approving clinician"
    device = _who(agents[1].get("who")) if len(agents) > 1 else "the app"
    n = len(p.get("target") or [])
    return f"Records in the chart that {who} approved these {n} entries, sent by {device}."


def _generic(p: Mapping[str, Any]) -> str:
    return "Another entry for the chart (see the FHIR detail)."


_DESCRIBERS = {
    "DocumentReference": _note,
    "Composition": _composition,
    "Provenance": _provenance,
}
