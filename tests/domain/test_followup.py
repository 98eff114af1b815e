"""Follow-ups of an earlier note (app.domain.followup, app.domain.followup_drafts): what the
clinician's choice makes, and the write plan — what happens to each item, in words."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from app.domain.draft import DraftSource, FollowUpKind
from app.domain.errors import DraftEditError
from app.domain.followup import ItemFate, note_addition, plan_writes
from app.domain.review import RiskKind, decide, risk_flags
from app.domain.validation import WritePermissions, validate_for_approval
from tests.support.drafts import APP, CLINICIAN, ENCOUNTER, PATIENT, obs
from tests.support.followups import HEART_RATE, TASK, corrected_heart_rate, follow_up

UPDATABLE = WritePermissions(
    frozenset({"DocumentReference", "Observation", "Task"}),
    updatable=frozenset({"Observation", "Task"}),
)


def fates(draft: object, may_update: object = lambda _t: True) -> dict[str, ItemFate]:
    plan = plan_writes(draft, may_update)  # type: ignore[arg-type]
    return {p.item.item_id: p.fate for p in plan.items}


def test_an_amendment_starts_from_the_earlier_text_and_an_addendum_from_nothing() -> None:
    amendment = follow_up(FollowUpKind.AMENDMENT)
    addendum = follow_up(FollowUpKind.ADDENDUM)
    assert amendment.sections[0].text == "Seen today. HR 96."
    assert amendment.provenance.source is DraftSource.AMENDMENT
    assert amendment.title == "Correction: Progress note"
    assert [s.text for s in addendum.sections] == [""]
    assert addendum.template_id == "addendum" and addendum.title == "Addendum: Progress note"
    assert addendum.provenance.source is DraftSource.ADDENDUM
    for draft in (amendment, addendum):
        assert draft.items == draft.baseline.items == (HEART_RATE, TASK)
        assert draft.amends is not None and not draft.is_modified
    assert amendment.amends and amendment.amends.kind.relation == "replaces"
    assert addendum.amends and addendum.amends.kind.relation == "appends"


def test_unchanged_items_are_not_sent_and_say_so() -> None:
    plan = plan_writes(follow_up(), UPDATABLE.may_update)
    assert [p.fate for p in plan.items] == [ItemFate.UNCHANGED, ItemFate.UNCHANGED]
    assert plan.written == ()
    assert plan.items[0].words == "Heart rate: 96 bpm — not sent: already in the chart"
    assert plan.note_words.startswith("Replaces the note of 16 Nov")


def test_a_changed_item_is_corrected_in_place() -> None:
    plan = plan_writes(corrected_heart_rate(follow_up()), UPDATABLE.may_update)
    hr = plan.items[0]
    assert hr.fate is ItemFate.CORRECT and hr.chart and hr.chart.target == "Observation/obs-96"
    assert hr.words == "Corrects Heart rate 96 bpm → 92 bpm"
    assert plan.updated_types == {"Observation"} and plan.created_types == frozenset()


def test_where_the_site_cannot_update_the_note_states_the_correction() -> None:
    plan = plan_writes(corrected_heart_rate(follow_up()), lambda _t: False)
    assert plan.items[0].fate is ItemFate.CORRECT_IN_NOTE
    assert "stated in the note" in plan.items[0].words
    assert plan.written == ()
    assert note_addition(plan).endswith("- Heart rate 96 bpm → 92 bpm\n")


def test_a_removed_item_is_marked_entered_in_error_only_when_confirmed() -> None:
    removed = follow_up().without_item("hr")
    assert fates(removed)["hr"] is ItemFate.KEEP
    assert "stays in the chart" in plan_writes(removed).items[-1].words
    confirmed = removed.with_retraction("hr")
    assert fates(confirmed)["hr"] is ItemFate.RETRACT
    assert fates(confirmed, lambda _t: False)["hr"] is ItemFate.RETRACT_IN_NOTE
    assert fates(confirmed.with_retraction("hr", confirmed=False))["hr"] is ItemFate.KEEP
    with pytest.raises(DraftEditError):
        confirmed.with_retraction("not-a-chart-item")


def test_new_items_of_a_follow_up_are_created() -> None:
    draft = follow_up().with_item(obs("temp", "8310-5", "37.9", "Cel", "Body temperature"))
    assert fates(draft)["temp"] is ItemFate.CREATE
    plain = plan_writes(draft.with_title("x"))
    assert plain.items[-1].words.startswith("New: Body temperature")


def test_destinations_follow_the_plan_not_the_draft() -> None:
    """The issue's bug: a copy of the note resent its Observation. Unchanged items add no
    type to write; a correction does."""

    def destinations(draft: object) -> tuple[str, ...]:
        report = validate_for_approval(
            draft,  # type: ignore[arg-type]
            PATIENT,
            ENCOUNTER,
            template=None,
            write_permissions=UPDATABLE,
            amended_note_patient=PATIENT,
        )
        assert report.can_approve, report.problems
        return report.destinations

    assert destinations(follow_up()) == ("DocumentReference",)
    assert destinations(corrected_heart_rate(follow_up())) == ("DocumentReference", "Observation")


def test_a_follow_up_of_a_queued_note_names_it_and_waits() -> None:
    pending = uuid.uuid4()
    draft = follow_up(FollowUpKind.ADDENDUM, pending=pending)
    assert draft.amends and draft.amends.target.startswith("urn:uuid:")
    words = plan_writes(draft).note_words
    assert "still in the outbox" in words and words.startswith("Adds an addendum")
    report = validate_for_approval(
        draft.with_section_text("addendum", "Also: allergy to latex."),
        PATIENT,
        ENCOUNTER,
        template=None,
        write_permissions=UPDATABLE,
        amended_note_patient=draft.amends.subject,
    )
    assert report.can_approve, report.problems
    flag = risk_flags(draft, report, human_edited=True)[0]
    assert flag.text.startswith("Addendum to a note still in the outbox")


def test_the_risk_flag_counts_corrections_and_retractions() -> None:
    draft = corrected_heart_rate(follow_up()).without_item("task-1").with_retraction("task-1")
    report = validate_for_approval(
        draft,
        PATIENT,
        ENCOUNTER,
        template=None,
        write_permissions=UPDATABLE,
        amended_note_patient=PATIENT,
    )
    decision = decide(draft, report, CLINICIAN, draft.created_at, APP)
    assert decision.destination_types == ("DocumentReference", "Observation", "Task")
    flags = {f.kind: f.text for f in decision.risk_flags}
    # the earlier text says HR 96, the corrected record 92: the mismatch is flagged too
    assert flags.pop(RiskKind.NARRATIVE_MISMATCH).startswith("1 place where the note's text")
    (text,) = flags.values()
    assert text == (
        "Correction of a note in the chart; it will replace that note; 1 of its records "
        "corrected; 1 marked entered in error"
    )


def test_an_unchanged_chart_record_is_not_validated_again() -> None:
    """A chart value outside the plausible limits is the chart's business, not this note's:
    it is not written, so it does not block the follow-up."""
    odd = replace(HEART_RATE, value=HEART_RATE.value * 10)  # type: ignore[operator]
    draft = follow_up()
    draft = replace(draft, items=(odd, TASK), baseline=replace(draft.baseline, items=(odd, TASK)))
    report = validate_for_approval(
        draft,
        PATIENT,
        ENCOUNTER,
        template=None,
        write_permissions=UPDATABLE,
        amended_note_patient=PATIENT,
    )
    assert report.can_approve, report.problems
    corrected = draft.with_item(replace(odd, value=odd.value + 1))  # type: ignore[operator]
    report = validate_for_approval(
        corrected,
        PATIENT,
        ENCOUNTER,
        template=None,
        write_permissions=UPDATABLE,
        amended_note_patient=PATIENT,
    )
    assert not report.can_approve  # a value written now is checked
