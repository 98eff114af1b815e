"""Follow-ups of notes approved in this app (app.sync.followups), end to end against the sandbox
and the peer EHR: approve a note with a heart rate, start "Correct this note" / "Add an
addendum" from it — while it is still in the outbox or after it was confirmed — correct the
heart rate, approve, sync. Then the server is read directly: the notes on the encounter and
their relatesTo, one heart rate carrying the correction."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.domain.clinical import NoteSourceType, Reference
from app.domain.commit import IDENTIFIER_SYSTEM, ApprovedCommit
from app.domain.draft import Draft, FollowUpKind
from app.domain.followup_drafts import start_follow_up
from app.domain.items.observation import ObservationItem
from app.domain.note_history import commit_of, note_threads
from app.domain.outbox import OutboxState
from app.domain.prefill import prefill_draft
from app.fhir.context_loader import load_encounter_context
from app.fhir.note_items import earlier_from_chart_note
from app.fhir.profiles import load_profile
from app.store.templates import load_templates
from app.sync.approval import ApprovalContext, approve, check
from app.sync.followups import NothingToFollowUp, earlier_from_outbox
from tests.support.servers import RunningServer
from tests.sync.runner_fixtures import SCOPE, Harness, _get, harness, launch_token

S = OutboxState


@pytest.fixture
async def h(ehr: RunningServer, tmp_path: Path) -> AsyncIterator[Harness]:
    async for value in harness(tmp_path, ehr.fhir_base, launch_token(ehr)):
        yield value


async def approval_context(h: Harness) -> ApprovalContext:
    context = await load_encounter_context(h.fhir, "pat-1", "enc-1")
    return ApprovalContext.build(
        context,
        Reference("Practitioner", "prac-1", "Dr. Test"),
        load_profile("generic-r4"),
        await h.fhir.capabilities(),
        SCOPE.split(),
    )


def approve_draft(h: Harness, actx: ApprovalContext, draft: Draft) -> ApprovedCommit:
    h.store.drafts.save(draft)
    now = datetime.now(UTC)
    report = check(draft, actx, None, now=now)
    assert report.can_approve, report.problems
    _decision, commit = approve(h.store, draft, report, actx, now=now)
    return commit


def first_note(actx: ApprovalContext, marker: str) -> Draft:
    template = load_templates().default
    draft = prefill_draft(actx.context, template, now=datetime.now(UTC))
    for section in template.sections:
        if section.required:
            draft = draft.with_section_text(section.key, f"{section.title} {marker}.")
    hr = ObservationItem("hr", "8867-4", "Heart rate", Decimal(96), "/min", None, None)
    return draft.with_item(hr)


def corrected(draft: Draft, bpm: int) -> Draft:
    item = draft.item("hr")
    assert isinstance(item, ObservationItem)
    return draft.with_item(ObservationItem(**{**item.__dict__, "value": Decimal(bpm)}))


def of_commit(server: RunningServer, rtype: str, commit: ApprovedCommit) -> list[dict[str, Any]]:
    body = _get(server, rtype, {"patient": "Patient/pat-1", "_count": "500"})
    prefix = f"{commit.commit_id}"
    return [
        e["resource"]
        for e in body.get("entry", [])
        if e.get("search", {}).get("mode", "match") == "match"
        and any(
            i.get("system") == IDENTIFIER_SYSTEM and str(i.get("value", "")).startswith(prefix)
            for i in _identifiers(e["resource"])
        )
    ]


def _identifiers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    found = resource.get("identifier") or []
    return found if isinstance(found, list) else [found]  # Composition: a single one


@pytest.mark.parametrize("kind", list(FollowUpKind))
async def test_a_follow_up_of_a_queued_note_waits_for_it_then_relates_to_it(
    h: Harness, ehr: RunningServer, kind: FollowUpKind
) -> None:
    actx = await approval_context(h)
    marker = f"queued {kind.value} {datetime.now(UTC).isoformat()}"
    first = approve_draft(h, actx, first_note(actx, marker))
    approved = h.store.drafts.get(h.store.outbox.get(first.commit_id).row.draft_id)  # type: ignore[arg-type]
    follow = start_follow_up(earlier_from_outbox(h.store, approved), kind, now=datetime.now(UTC))
    key = follow.sections[0].key
    follow = corrected(follow.with_section_text(key, f"Heart rate recounted: 92. {marker}"), 92)
    second = approve_draft(h, actx, follow)
    assert second.depends_on == (first.commit_id,)
    assert h.store.outbox.item(second.commit_id).state is S.WAITING_FOR_BASE
    assert [w.resource_type for w in second.writes] == [
        "DocumentReference",
        "Observation",
        "Composition",
        "Provenance",
    ][: len(second.writes)]
    async with h.runner("generic-r4") as runner:
        summary = await runner.drain(timeout=60)
    assert summary.confirmed >= 2
    assert h.store.outbox.item(second.commit_id).state is S.CONFIRMED

    first_doc = h.store.outbox.get(first.commit_id).writes[0].reference
    [doc] = of_commit(ehr, "DocumentReference", second)
    assert doc["relatesTo"][0]["code"] == kind.relation
    assert doc["relatesTo"][0]["target"]["reference"].endswith(str(first_doc))
    # one heart rate: the first note's, corrected in place; the second wrote no new one
    hr_first = of_commit(ehr, "Observation", first)
    assert len(hr_first) == 1 and hr_first[0]["valueQuantity"]["value"] == 92
    assert hr_first[0]["status"] == "corrected"
    assert hr_first == of_commit(ehr, "Observation", second)  # the same resource
    text = base64.b64decode(doc["content"][0]["attachment"]["data"]).decode()
    assert marker in text


async def test_a_follow_up_of_a_confirmed_note_corrects_the_version_it_recorded(
    h: Harness, ehr: RunningServer
) -> None:
    actx = await approval_context(h)
    marker = f"confirmed {datetime.now(UTC).isoformat()}"
    first = approve_draft(h, actx, first_note(actx, marker))
    async with h.runner("generic-r4") as runner:
        await runner.drain(timeout=60)
    entry = h.store.outbox.get(first.commit_id)
    approved = h.store.drafts.get(entry.row.draft_id)  # type: ignore[arg-type]
    earlier = earlier_from_outbox(h.store, approved)
    assert earlier.reference.pending_commit is None
    assert earlier.reference.document.relative == entry.writes[0].reference
    [hr] = earlier.reference.chart_items
    assert hr.target == entry.writes[1].reference and hr.version_id == entry.writes[1].version_id
    follow = start_follow_up(earlier, FollowUpKind.AMENDMENT, now=datetime.now(UTC))
    second = approve_draft(h, actx, corrected(follow, 90))
    assert second.depends_on == ()
    async with h.runner("generic-r4") as runner:
        await runner.drain(timeout=60)
    assert h.store.outbox.item(second.commit_id).state is S.CONFIRMED
    [hr_now] = of_commit(ehr, "Observation", first)
    assert hr_now["valueQuantity"]["value"] == 90


async def test_a_discarded_note_has_nothing_to_follow_up(h: Harness) -> None:
    actx = await approval_context(h)
    first = approve_draft(h, actx, first_note(actx, "discarded"))
    h.store.outbox.discard(first.commit_id, "wrong patient", "Practitioner/prac-1", confirmed=True)
    approved = h.store.drafts.get(h.store.outbox.get(first.commit_id).row.draft_id)  # type: ignore[arg-type]
    with pytest.raises(NothingToFollowUp, match="discarded"):
        earlier_from_outbox(h.store, approved)


async def test_a_chart_note_written_by_this_app_is_followed_up_with_its_records(
    h: Harness, ehr: RunningServer
) -> None:
    """From the chart pane (after a restart, say): the note is found with its heart rate at
    the version the chart holds; the same note as a Composition is listed once with it; the
    amendment corrects the heart rate in place and replaces both forms."""
    actx = await approval_context(h)
    marker = f"from the chart {datetime.now(UTC).isoformat()}"
    first = approve_draft(h, actx, first_note(actx, marker))
    async with h.runner("generic-r4") as runner:
        await runner.drain(timeout=60)
    actx = await approval_context(h)  # the chart as it is now (the app re-reads it too)
    context = actx.context
    threads = note_threads(context.notes.items, written_here=[first.commit_id])
    [thread] = [t for t in threads if commit_of(t.current) == first.commit_id]
    assert thread.written_here
    assert thread.current.source_type is NoteSourceType.DOCUMENT_REFERENCE
    assert [n.source_type for n in thread.other_forms] == [NoteSourceType.COMPOSITION]
    earlier = await earlier_from_chart_note(h.fhir, context, thread.current)
    [hr] = earlier.items
    assert isinstance(hr, ObservationItem) and hr.value == 96
    [record] = earlier.reference.chart_items
    assert record.target == h.store.outbox.get(first.commit_id).writes[1].reference
    assert earlier.reference.composition == f"Composition/{thread.other_forms[0].id}"
    follow = start_follow_up(earlier, FollowUpKind.AMENDMENT, now=datetime.now(UTC))
    hr_item = follow.items[0]
    assert isinstance(hr_item, ObservationItem)
    follow = follow.with_item(ObservationItem(**{**hr_item.__dict__, "value": Decimal(94)}))
    second = approve_draft(h, actx, follow)
    async with h.runner("generic-r4") as runner:
        await runner.drain(timeout=60)
    assert h.store.outbox.item(second.commit_id).state is S.CONFIRMED
    [hr_now] = of_commit(ehr, "Observation", first)
    assert hr_now["valueQuantity"]["value"] == 94 and hr_now["status"] == "corrected"
    [comp] = of_commit(ehr, "Composition", second)
    assert comp["relatesTo"][0]["code"] == "replaces"
    assert comp["relatesTo"][0]["targetReference"]["reference"].endswith(thread.other_forms[0].id)
    after = await load_encounter_context(h.fhir, "pat-1", "enc-1")
    mine = [
        t
        for t in note_threads(after.notes.items, written_here=[first.commit_id, second.commit_id])
        if commit_of(t.current) in (first.commit_id, second.commit_id)
    ]
    assert len(mine) == 1 and commit_of(mine[0].current) == second.commit_id
    assert [commit_of(n) for n in mine[0].earlier] == [first.commit_id]


async def test_a_note_another_system_wrote_is_followed_up_as_text(h: Harness) -> None:
    context = await load_encounter_context(h.fhir, "pat-1", "enc-1")
    seeded = [n for n in context.notes.items if commit_of(n) is None and n.text]
    assert seeded, "the seed must give pat-1 a note written elsewhere"
    earlier = await earlier_from_chart_note(h.fhir, context, seeded[0])
    assert earlier.items == () and earlier.reference.chart_items == ()
    assert earlier.sections[0].text == seeded[0].plain_text()


async def test_a_follow_up_of_an_amendment_keeps_the_records_it_left_unchanged(
    h: Harness, ehr: RunningServer
) -> None:
    """The first note wrote a heart rate and a temperature; its amendment corrected the heart
    rate only. Followed up from the chart, the amendment brings both records: the corrected
    heart rate (at its new version) and the temperature the first note wrote."""
    actx = await approval_context(h)
    marker = f"lineage {datetime.now(UTC).isoformat()}"
    temp = ObservationItem("temp", "8310-5", "Body temperature", Decimal("37.1"), "Cel", None, None)
    first = approve_draft(h, actx, first_note(actx, marker).with_item(temp))
    async with h.runner("generic-r4") as runner:
        await runner.drain(timeout=60)
    approved = h.store.drafts.get(h.store.outbox.get(first.commit_id).row.draft_id)  # type: ignore[arg-type]
    amend = start_follow_up(
        earlier_from_outbox(h.store, approved), FollowUpKind.AMENDMENT, now=datetime.now(UTC)
    )
    second = approve_draft(h, actx, corrected(amend, 91))
    async with h.runner("generic-r4") as runner:
        await runner.drain(timeout=60)
    actx = await approval_context(h)
    [thread] = [
        t
        for t in note_threads(actx.context.notes.items)
        if commit_of(t.current) == second.commit_id
    ]
    earlier = await earlier_from_chart_note(h.fhir, actx.context, thread.current)
    values = sorted(
        (i.loinc_code, i.value) for i in earlier.items if isinstance(i, ObservationItem)
    )
    assert values == [("8310-5", Decimal("37.1")), ("8867-4", Decimal(91))]
    targets = {c.target for c in earlier.reference.chart_items}
    assert len(targets) == 2  # each record once, though the heart rate carries two commits
