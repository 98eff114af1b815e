"""The app-maintained block: items rendered into their narrative section, kept in step with
the table, free text around it kept as the clinician wrote it."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from app.domain.draft import Draft, DraftStatus
from app.domain.items.observation import OBSERVATION
from app.domain.narrative_block import (
    BLOCK_END,
    BLOCK_START,
    block_text,
    find_block,
    out_of_step,
    render_block,
    section_for,
    sync_blocks,
    with_block,
)
from app.domain.prefill import prefill_draft
from app.domain.render import render_plain_text
from app.domain.templates import NoteTemplate, TemplateSection
from tests.domain.conftest import NOW, make_context
from tests.support.drafts import message, obs, reconciliation, symptom, task

SOAP = NoteTemplate(
    "soap",
    "SOAP",
    1,
    (
        TemplateSection("subjective", "Subjective"),
        TemplateSection("objective", "Objective", prefill=()),
        TemplateSection("assessment", "Assessment"),
        TemplateSection("plan", "Plan"),
    ),
)
HR = obs("obs-hr", "8867-4", "96", "/min", "Heart rate")


def soap_draft() -> Draft:
    draft = prefill_draft(make_context(), SOAP, now=NOW)
    return draft.with_section_text("objective", "Examination unremarkable.")


def test_items_go_to_the_section_of_their_role() -> None:
    keys = ["subjective", "objective", "assessment", "plan"]
    assert section_for(HR, keys) == "objective"
    assert section_for(symptom(), keys) == "subjective"
    assert section_for(task(), keys) == "plan"
    assert section_for(message(), keys) == "plan"
    assert section_for(reconciliation(), keys) == "plan"  # no Medications section: Plan
    assert section_for(reconciliation(), [*keys, "medications"]) == "medications"
    assert section_for(HR, ["interval-history", "findings", "plan"]) == "findings"
    assert section_for(HR, ["note"]) == "note"  # one-section notes (amendments)


def test_a_table_edit_renders_the_block_after_the_free_text() -> None:
    draft = sync_blocks(soap_draft().with_item(HR))
    assert draft.section("objective").text == (
        f"Examination unremarkable.\n\n{BLOCK_START}\n- Heart rate: 96 bpm\n{BLOCK_END}\n"
    )
    assert out_of_step(draft) == ()
    assert "- Heart rate: 96 bpm" in render_plain_text(draft)  # the block is what is written


def test_the_block_follows_the_table_and_keeps_text_around_it() -> None:
    draft = sync_blocks(soap_draft().with_item(HR).with_item(task()))
    objective = draft.section("objective").text + "Abdomen soft."
    draft = draft.with_section_text("objective", objective)
    changed = sync_blocks(draft.with_item(replace(HR, value=Decimal(92))))
    text = changed.section("objective").text
    assert text.startswith("Examination unremarkable.\n\n")
    assert "- Heart rate: 92 bpm\n" in text and "96" not in text
    assert text.endswith(f"{BLOCK_END}\nAbdomen soft.")
    assert "- Follow-up: " in changed.section("plan").text
    removed = sync_blocks(changed.without_item(HR.item_id))
    assert removed.section("objective").text == "Examination unremarkable.\n\nAbdomen soft."
    assert BLOCK_START not in removed.section("objective").text


def test_sync_changes_nothing_when_in_step_and_never_an_approved_draft() -> None:
    draft = sync_blocks(soap_draft().with_item(HR))
    assert sync_blocks(draft) is draft
    approved = replace(draft.with_item(replace(HR, value=Decimal(90))), status=DraftStatus.APPROVED)
    assert sync_blocks(approved) is approved


def test_a_block_edited_by_hand_is_out_of_step_until_rewritten() -> None:
    draft = sync_blocks(soap_draft().with_item(HR))
    edited = draft.with_section_text(
        "objective", draft.section("objective").text.replace("96", "90")
    )
    assert out_of_step(edited) == ("objective",)
    assert out_of_step(sync_blocks(edited)) == ()


@pytest.mark.parametrize(
    "damaged",
    [
        f"Text.\n\n{BLOCK_START}\n- Heart rate: 80 bpm\nMore text.",  # end marker deleted
        f"Text.\n\n- Heart rate: 80 bpm\n{BLOCK_END}\nMore text.",  # start marker deleted
    ],
)
def test_a_damaged_block_is_repaired_not_duplicated(damaged: str) -> None:
    repaired = with_block(damaged, render_block([HR]))
    assert repaired == f"Text.\n\n{BLOCK_START}\n- Heart rate: 96 bpm\n{BLOCK_END}\nMore text."
    assert repaired.count(BLOCK_START) == 1


def test_a_block_is_found_only_where_the_markers_are() -> None:
    assert find_block("HR 96\n- a list line\n") is None
    assert block_text("no block") == ""
    text = f"a\n{BLOCK_START}\n- x\n{BLOCK_END}"
    span = find_block(text)
    assert span is not None and text[span.start : span.end] == f"{BLOCK_START}\n- x\n{BLOCK_END}"
    assert with_block(text, render_block([HR])).endswith(BLOCK_END)  # no line break added


def test_multi_line_item_text_stays_one_line_in_the_block() -> None:
    block = render_block([replace(message(), text="Please call\n\nthe patient")])
    assert block.splitlines()[1].endswith("Please call the patient")
    assert len(block.splitlines()) == 3


def test_empty_section_gets_only_the_block() -> None:
    draft = sync_blocks(soap_draft().with_section_text("plan", "").with_item(task()))
    assert draft.section("plan").text.startswith(BLOCK_START)


def test_an_addendum_lists_only_what_it_records_itself() -> None:
    from app.domain.draft import FollowUpKind
    from tests.support.followups import corrected_heart_rate, follow_up

    addendum = follow_up(FollowUpKind.ADDENDUM)
    assert sync_blocks(addendum) is addendum  # the earlier note's records, unchanged: no block
    corrected = sync_blocks(corrected_heart_rate(addendum))
    (section,) = corrected.sections
    assert "- Heart rate: 92 bpm" in section.text
    assert "Follow-up" not in section.text  # the earlier note's task is not repeated


def test_an_amendment_of_a_note_without_a_block_is_not_told_to_add_one() -> None:
    from app.domain.consistency import check_consistency
    from tests.support.followups import corrected_heart_rate, follow_up

    amendment = follow_up()
    assert check_consistency(amendment) == ()  # "HR 96" agrees with the chart record 96
    corrected = corrected_heart_rate(amendment)
    kinds = [m.kind.value for m in check_consistency(corrected)]
    assert kinds == ["table"]  # the text's 96 against the correction; no "block" warning
    fixed = sync_blocks(corrected)
    assert "- Heart rate: 92 bpm" in fixed.sections[0].text  # once the table changes


def test_a_row_just_added_is_not_listed_until_something_is_entered() -> None:
    """ "Add observation" adds a blank row: the block does not say "- LOINC : no value"."""
    assert OBSERVATION.new_item is not None
    draft = sync_blocks(soap_draft().with_item(OBSERVATION.new_item()))
    assert BLOCK_START not in draft.section("objective").text
    assert out_of_step(draft) == ()
    blank = OBSERVATION.select(draft.items)[0]
    typed = sync_blocks(draft.with_item(replace(HR, item_id=blank.item_id)))
    assert "- Heart rate: 96 bpm" in typed.section("objective").text
