"""Follow-up drafts for tests: an earlier note with a heart rate of 96 and a task, in the chart
(or still in the outbox), built from domain objects and the app's own mapping."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from app.domain.clinical import Reference
from app.domain.commit import canonical_json
from app.domain.draft import AmendmentRef, ChartItem, Draft, FollowUpKind, NoteSection
from app.domain.followup_drafts import EarlierNote, start_follow_up
from app.domain.items import StructuredItem, kind_of
from app.fhir.items import WriteContext, mapping_for
from tests.support.drafts import CLINICIAN, ENCOUNTER, NOW, PATIENT, PROGRESS_NOTE, obs, task

WRITTEN = datetime(2025, 11, 16, 9, 12, tzinfo=UTC)
HEART_RATE = obs("hr", "8867-4", "96", "/min", "Heart rate")
TASK = task("task-1")


def chart_record(item: StructuredItem, target: str, version: str | None) -> ChartItem:
    """``item`` as the chart holds it: the app's own mapping of it, with the chart's id."""
    ctx = WriteContext(PATIENT, ENCOUNTER, {"reference": CLINICIAN.relative}, "n", WRITTEN)
    body = mapping_for(kind_of(item)).to_fhir(item, ctx)
    body["identifier"] = [{"system": "urn:other-system", "value": f"{item.item_id}-elsewhere"}]
    return ChartItem(item.item_id, body["resourceType"], target, version, canonical_json(body))


def earlier_note(*, pending: uuid.UUID | None = None, with_task: bool = True) -> EarlierNote:
    """A progress note of 16 Nov 09:12 with a heart rate 96 /min (and a task)."""
    items: tuple[StructuredItem, ...] = (HEART_RATE, TASK) if with_task else (HEART_RATE,)
    if pending is None:
        records = (
            chart_record(HEART_RATE, "Observation/obs-96", "2"),
            chart_record(TASK, "Task/task-7", "1"),
        )
        document = Reference("DocumentReference", "doc-5")
    else:
        records = (
            chart_record(HEART_RATE, f"urn:uuid:{uuid.uuid5(pending, 'item:hr')}", None),
            chart_record(TASK, f"urn:uuid:{uuid.uuid5(pending, 'item:task-1')}", None),
        )
        document = Reference("DocumentReference", str(uuid.uuid5(pending, "note")))
    reference = AmendmentRef(
        document=document,
        version_id=None if pending else "4",
        note_date=WRITTEN,
        pending_commit=pending,
        subject=PATIENT if pending else None,
        chart_items=records[: len(items)],
    )
    return EarlierNote(
        reference=reference,
        patient=PATIENT,
        encounter=ENCOUNTER,
        title="Progress note",
        note_type=PROGRESS_NOTE,
        template_id="amendment",
        sections=(NoteSection("note", "Progress note", "Seen today. HR 96."),),
        items=items,
    )


def follow_up(kind: FollowUpKind = FollowUpKind.AMENDMENT, **kw: object) -> Draft:
    return start_follow_up(earlier_note(**kw), kind, now=NOW)  # type: ignore[arg-type]


def corrected_heart_rate(draft: Draft, bpm: str = "92") -> Draft:
    return draft.with_item(replace(HEART_RATE, value=Decimal(bpm)))
