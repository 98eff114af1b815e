"""Starting a follow-up of an earlier note: the clinician's choice between "Correct this note"
(an amendment) and "Add an addendum", made into a draft.

Every way of starting from an earlier note ends here — a note in the chart pane, a note
approved in this app (still in the outbox or already confirmed) — so none of them can make a
second, unlinked copy of a note or of its structured items. The caller says where the earlier
note is (:class:`EarlierNote`: built from the chart by :func:`earlier_from_chart`, or by
app.sync.followups from this app's outbox); :func:`start_follow_up` makes the draft:

- an amendment starts from the earlier note's text (its diff shows exactly the correction);
- an addendum starts empty, with its own one-section template;
- both carry the earlier note's structured items as they are in the chart (the baseline), each
  linked to its record (``ChartItem``): unchanged they are not sent, changed they are corrected
  in place, removed (and confirmed) they are marked entered in error (app.domain.followup).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from app.domain.clinical import Coding, PriorNote, Reference
from app.domain.context import EncounterContext
from app.domain.draft import (
    AmendmentRef,
    Baseline,
    ChartItem,
    Draft,
    DraftProvenance,
    FollowUpKind,
    NoteSection,
)
from app.domain.items import StructuredItem
from app.domain.templates import ADDENDUM_TEMPLATE, AMENDMENT_TEMPLATE


@dataclass(frozen=True)
class EarlierNote:
    """The note a follow-up starts from, wherever it is. ``reference`` says where (its
    ``kind`` is replaced by the clinician's choice); ``items`` are its structured items as the
    chart holds them, each with its ``ChartItem`` in ``reference.chart_items``."""

    reference: AmendmentRef
    patient: Reference
    encounter: Reference
    title: str  # "Progress note"
    note_type: Coding | None
    template_id: str
    sections: tuple[NoteSection, ...]
    items: tuple[StructuredItem, ...] = ()


def start_follow_up(
    earlier: EarlierNote, kind: FollowUpKind, *, now: datetime, draft_id: uuid.UUID | None = None
) -> Draft:
    """The follow-up draft the clinician chose (see the module docstring)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware (UTC)")
    stamp = now.astimezone(UTC)
    if kind is FollowUpKind.AMENDMENT:
        template_id, sections = earlier.template_id, earlier.sections
        title = f"Correction: {earlier.title}"
    else:
        section = ADDENDUM_TEMPLATE.sections[0]
        template_id = ADDENDUM_TEMPLATE.id
        sections = (NoteSection(section.key, section.title, ""),)
        title = f"Addendum: {earlier.title}"
    return Draft(
        id=draft_id or uuid.uuid4(),
        patient=earlier.patient,
        encounter=earlier.encounter,
        template_id=template_id,
        title=title,
        note_type=earlier.note_type,
        sections=sections,
        items=earlier.items,
        baseline=Baseline(sections=sections, items=earlier.items),
        provenance=DraftProvenance(source=kind.source),
        amends=replace(earlier.reference, kind=kind, retract=()),
        created_at=stamp,
        updated_at=stamp,
    )


def earlier_from_chart(
    context: EncounterContext,
    note: PriorNote,
    linked: Sequence[tuple[StructuredItem, ChartItem]] = (),
    *,
    composition: str | None = None,
) -> EarlierNote:
    """A note of the chart pane (a DocumentReference), with the structured items found linked
    to it (app.fhir.note_items) and the same note as a Composition, if the chart has one."""
    text = note.plain_text() or ""
    section = AMENDMENT_TEMPLATE.sections[0]
    reference = AmendmentRef(
        document=note.reference,
        version_id=note.version_id,
        note_date=note.date,
        composition=composition,
        chart_items=tuple(chart for _item, chart in linked),
    )
    return EarlierNote(
        reference=reference,
        patient=context.patient.reference,
        encounter=note.encounter or context.encounter.reference,
        title=note.type_display,
        note_type=note.type,
        template_id=AMENDMENT_TEMPLATE.id,
        sections=(NoteSection(section.key, note.type_display or section.title, text),),
        items=tuple(item for item, _chart in linked),
    )


def earlier_from_draft(approved: Draft, reference: AmendmentRef) -> EarlierNote:
    """A note approved in this app, from its draft: its text and its items as written (the
    items ``reference.chart_items`` does not locate are left out: they never reached the
    chart)."""
    located = {c.item_id for c in reference.chart_items}
    return EarlierNote(
        reference=replace(reference, subject=reference.subject or approved.patient),
        patient=approved.patient,
        encounter=approved.encounter,
        title=_plain_title(approved.title),
        note_type=approved.note_type,
        template_id=approved.template_id,
        sections=approved.sections,
        items=tuple(i for i in approved.items if i.item_id in located),
    )


def _plain_title(title: str) -> str:
    """``Progress note`` from ``Correction: Addendum: Progress note``: a follow-up of a
    follow-up does not pile up prefixes."""
    text = title.strip()
    for prefix in ("Correction: ", "Addendum: ", "Amendment: "):
        while text.startswith(prefix):
            text = text[len(prefix) :]
    return text or "Clinical note"
