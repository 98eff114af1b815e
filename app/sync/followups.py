"""A follow-up of a note approved in this app: where that note and each of its items are, as
this app's outbox knows it (app.domain.followup_drafts makes the draft).

- still on its way (any state but Confirmed or Discarded): the new note and its corrections
  refer to the earlier commit's writes by ``urn:uuid``, and the follow-up's commit waits for it
  (``AmendmentRef.pending_commit``, the commit dependency); each correction then goes with
  If-Match on the version the earlier commit recorded;
- confirmed: the server ids and versions it recorded (app.fhir.note_items can bring them up to
  what the chart holds now);
- discarded: it never reached the chart — there is nothing to follow up
  (:class:`NothingToFollowUp`; the clinician may start a new note from its text).

An item the earlier note left as it was in the chart (it was a follow-up itself) is located
where that note found it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from app.domain.clinical import Reference
from app.domain.commit import PlannedWrite, canonical_json, resolve_references
from app.domain.draft import AmendmentRef, ChartItem, Draft, DraftStatus
from app.domain.errors import DomainError
from app.domain.followup_drafts import EarlierNote, earlier_from_draft
from app.domain.outbox import OutboxState
from app.domain.review_codec import decision_from_json
from app.fhir.mapping_out import write_id_for
from app.store.outbox_records import OutboxEntry, WriteRecord

if TYPE_CHECKING:
    from app.store.store import Store

S = OutboxState


class NothingToFollowUp(DomainError):
    """The approved note never reached the chart and never will (discarded), or was never
    approved: a follow-up would relate to nothing. ``user_message`` says what to do."""


def earlier_from_outbox(store: Store, approved: Draft) -> EarlierNote:
    """The approved draft ``approved`` as an earlier note (see the module docstring)."""
    entry = (
        store.lookups.for_draft(approved.id) if approved.status is DraftStatus.APPROVED else None
    )
    if entry is None or entry.decision_json is None:
        raise NothingToFollowUp(
            "This draft was never approved, so there is no note to correct; keep editing it."
        )
    if entry.item.state is S.DISCARDED:
        raise NothingToFollowUp(
            "This note was discarded and never reached the chart, so there is nothing to "
            "correct or add to. Start a new draft from its text instead."
        )
    decision = decision_from_json(entry.decision_json)
    confirmed = entry.item.state is S.CONFIRMED
    resolved = {**_base_references(store, entry), **entry.resolved()}
    writes = {w.write_id: (w, r) for w, r in zip(entry.commit.writes, entry.writes, strict=True)}
    note, note_record = entry.commit.writes[0], entry.writes[0]
    composition = next((w for w in entry.commit.writes if w.resource_type == "Composition"), None)
    chart_items: list[ChartItem] = []
    for item in approved.items:
        found = writes.get(write_id_for(decision.decision_id, f"item:{item.item_id}"))
        if found is not None:
            chart_items.append(_located(item.item_id, *found, confirmed, resolved))
        elif approved.amends is not None:
            left = approved.amends.chart_item(item.item_id)
            located = _resolved(store, left) if left is not None else None
            if located is not None:
                chart_items.append(located)
    reference = AmendmentRef(
        document=Reference(
            "DocumentReference",
            note_record.server_id if confirmed and note_record.server_id else str(note.write_id),
        ),
        version_id=note_record.version_id if confirmed else None,
        note_date=decision.approved_at,
        pending_commit=None if confirmed else entry.commit_id,
        composition=None
        if composition is None
        else (resolved.get(composition.full_url) if confirmed else composition.full_url),
        subject=decision.patient,
        chart_items=tuple(chart_items),
    )
    return earlier_from_draft(approved, reference)


def _located(
    item_id: str,
    write: PlannedWrite,
    record: WriteRecord,
    confirmed: bool,
    resolved: dict[str, str],
) -> ChartItem:
    """Where the earlier commit put an item: its own record, or the chart record it updated."""
    if confirmed and record.reference:
        target = record.reference
    elif write.is_update and write.target is not None:
        target = resolved.get(write.target, write.target)
    else:
        target = write.full_url
    seen = json.loads(resolve_references(write.payload_json, resolved if confirmed else {}))
    seen.pop("id", None)
    version = record.version_id if confirmed else None
    return ChartItem(item_id, write.resource_type, target, version, canonical_json(seen))


def _resolved(store: Store, chart: ChartItem) -> ChartItem | None:
    """A chart item located by an earlier follow-up: as it is, once its record has a server id;
    None while it points at a write of a commit that is still not confirmed (it is left out of
    the follow-up: only one earlier commit can be waited for)."""
    if not chart.target.startswith("urn:uuid:"):
        return chart
    located = store.lookups.write(chart.target)
    if located is None or located.item.state is not S.CONFIRMED:
        return None
    reference = located.record.reference
    if reference is None:
        return None
    return ChartItem(
        chart.item_id, chart.resource_type, reference, located.record.version_id, chart.seen_json
    )


def _base_references(store: Store, entry: OutboxEntry) -> dict[str, str]:
    bases = store.outbox.base_writes(entry)
    return {url: rec.reference for url, rec in bases.items() if rec.reference}
