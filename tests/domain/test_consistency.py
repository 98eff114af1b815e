"""The consistency check: values the narrative states for known observations against the table
and the chart, each disagreement with its one-click fixes (issue 12 item 2)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from app.domain.consistency import (
    Fix,
    MismatchKind,
    apply_fix,
    chart_values,
    check_consistency,
)
from app.domain.draft import Draft
from app.domain.errors import DraftEditError
from app.domain.items.observation import ObservationComponent, ObservationItem
from app.domain.narrative_block import BLOCK_START, out_of_step, sync_blocks
from app.domain.narrative_values import find_mentions, same_value
from app.domain.prefill import prefill_draft
from app.domain.templates import NoteTemplate, TemplateSection
from app.domain.validation import ProblemKind, WritePermissions, validate_for_approval
from tests.domain.conftest import NOW, make_context
from tests.support.drafts import obs

SOAP = NoteTemplate(
    "soap",
    "SOAP",
    1,
    (
        TemplateSection("subjective", "Subjective"),
        TemplateSection("objective", "Objective"),
        TemplateSection("plan", "Plan"),
    ),
)
CONTEXT = make_context()
CHART = chart_values([*CONTEXT.latest_vitals(), *CONTEXT.latest_labs()])
HR_96 = obs("obs-hr", "8867-4", "96", "/min", "Heart rate")


def draft_with(objective: str, *items: object) -> Draft:
    draft = prefill_draft(CONTEXT, SOAP, now=NOW).with_section_text("objective", objective)
    for item in items:
        draft = draft.with_item(item)  # type: ignore[arg-type]
    return sync_blocks(draft)


def test_prefilled_heart_rate_disagreeing_with_the_table_is_found() -> None:
    """The issue's case: Objective says 78 (prefilled from the chart), the table says 96."""
    draft = draft_with("Vital signs (latest):\n- Heart rate: 78 beats/minute (2025-03-10)", HR_96)
    (mismatch,) = check_consistency(draft, CHART)
    assert mismatch.kind is MismatchKind.TABLE
    assert mismatch.section_key == "objective"
    assert mismatch.message == (
        "Objective says heart rate 78 beats/minute; the table records 96 bpm."
    )
    assert [(f.fix, f.label) for f in mismatch.fixes] == [
        (Fix.UPDATE_TEXT, "Change the text to 96 bpm"),
        (Fix.UPDATE_ITEM, "Change the table to 78 beats/minute"),
    ]
    assert mismatch.item_ids == ("obs-hr",)


def test_fix_update_the_text() -> None:
    draft = draft_with("HR 78/min, well.", HR_96)
    (mismatch,) = check_consistency(draft, CHART)
    fixed = apply_fix(draft, mismatch, Fix.UPDATE_TEXT)
    assert fixed.section("objective").text.startswith("HR 96 bpm, well.")
    assert fixed.items == draft.items
    assert check_consistency(fixed, CHART) == ()


def test_fix_update_the_item_and_the_block_follows() -> None:
    draft = draft_with("HR 78/min, well.", HR_96)
    (mismatch,) = check_consistency(draft, CHART)
    fixed = apply_fix(draft, mismatch, Fix.UPDATE_ITEM)
    assert fixed.item("obs-hr").value == Decimal(78)  # type: ignore[attr-defined]
    assert "- Heart rate: 78 bpm" in fixed.section("objective").text
    assert check_consistency(fixed, CHART) == ()
    assert out_of_step(fixed) == ()


def test_no_item_compares_with_the_latest_charted_value() -> None:
    draft = draft_with("Pulse 88 bpm at rest.")
    (mismatch,) = check_consistency(draft, CHART)
    assert mismatch.kind is MismatchKind.CHART
    assert "the latest heart rate in the chart is 78 bpm (2025-03-10)" in mismatch.message
    assert {f.fix for f in mismatch.fixes} == {Fix.UPDATE_TEXT, Fix.ADD_ITEM}
    added = apply_fix(draft, mismatch, Fix.ADD_ITEM, item_id="new-hr")
    item = added.item("new-hr")
    assert (item.loinc_code, item.value, item.unit) == ("8867-4", Decimal(88), "/min")  # type: ignore[attr-defined]
    assert BLOCK_START in added.section("objective").text
    assert check_consistency(added, CHART) == ()
    assert check_consistency(apply_fix(draft, mismatch, Fix.UPDATE_TEXT), CHART) == ()


def test_values_that_agree_are_not_flagged() -> None:
    text = (
        "HR 96, BP 142/88 mmHg (chart), Heart rate: 96.0 /min. Pulses: 2+ radial.\n"
        "Symptoms for 2 hr. Recheck BP in 3 months."
    )
    assert check_consistency(draft_with(text, HR_96), CHART) == ()


def test_blood_pressure_pair_against_two_items() -> None:
    sys_, dia = (
        obs("obs-sys", "8480-6", "150", "mm[Hg]", "Systolic blood pressure"),
        obs("obs-dia", "8462-4", "90", "mm[Hg]", "Diastolic blood pressure"),
    )
    draft = draft_with("BP 142/88 mmHg.", sys_, dia)
    (mismatch,) = check_consistency(draft, CHART)
    assert mismatch.expected_text == "150/90 mmHg"
    fixed = apply_fix(draft, mismatch, Fix.UPDATE_TEXT)
    assert fixed.section("objective").text.startswith("BP 150/90 mmHg.")
    both = apply_fix(draft, mismatch, Fix.UPDATE_ITEM)
    assert [i.value for i in both.items] == [Decimal(142), Decimal(88)]  # type: ignore[attr-defined]


def test_blood_pressure_panel_item_as_the_table_records_it() -> None:
    """The table records a blood pressure as one panel item (85354-9) with two parts."""
    panel = ObservationItem(
        "obs-bp",
        "85354-9",
        "Blood pressure",
        None,
        "mm[Hg]",
        components=(
            ObservationComponent("8480-6", "Systolic blood pressure", Decimal(150), "mm[Hg]"),
            ObservationComponent("8462-4", "Diastolic blood pressure", Decimal(90), "mm[Hg]"),
        ),
    )
    draft = draft_with("BP 142/88 mmHg.", panel)
    (mismatch,) = check_consistency(draft, CHART)
    assert mismatch.kind is MismatchKind.TABLE
    assert (mismatch.expected_text, mismatch.item_ids) == ("150/90 mmHg", ("obs-bp",))
    fixed = apply_fix(draft, mismatch, Fix.UPDATE_ITEM)
    parts = fixed.item("obs-bp").components  # type: ignore[attr-defined]
    assert [(c.loinc_code, c.value) for c in parts] == [("8480-6", 142), ("8462-4", 88)]
    assert "- Blood pressure: 142/88 mmHg" in fixed.section("objective").text
    assert check_consistency(fixed, CHART) == ()
    (from_chart,) = check_consistency(draft_with("BP 160/95 mmHg."), CHART)
    added = apply_fix(draft_with("BP 160/95 mmHg."), from_chart, Fix.ADD_ITEM, item_id="bp")
    new = added.item("bp")
    assert (new.loinc_code, new.value) == ("85354-9", None)  # type: ignore[attr-defined]
    assert [c.value for c in new.components] == [160, 95]  # type: ignore[attr-defined]
    assert check_consistency(added, CHART) == ()


def test_units_are_converted_where_arithmetic_allows() -> None:
    temp = obs("obs-t", "8310-5", "37", "Cel", "Body temperature")
    weight = obs("obs-w", "29463-7", "80", "kg", "Body weight")
    assert check_consistency(draft_with("Temp 98.6 F, wt 176 lb.", temp, weight), CHART) == ()
    (wrong_unit,) = check_consistency(draft_with("Weight 80 lb.", weight), CHART)
    assert wrong_unit.message.endswith("the table records 80 kg.")


def test_a_block_edited_by_hand_is_reported_once() -> None:
    draft = draft_with("Well.", HR_96)
    edited = draft.with_section_text(
        "objective", draft.section("objective").text.replace("96 bpm", "90 bpm")
    )
    (mismatch,) = check_consistency(edited, CHART)  # the value, not also "block out of step"
    assert mismatch.kind is MismatchKind.TABLE
    task_only = draft.with_section_text("objective", "Well.")  # block deleted
    (block,) = check_consistency(task_only, CHART)
    assert block.kind is MismatchKind.BLOCK
    assert [f.fix for f in block.fixes] == [Fix.UPDATE_TEXT]
    assert check_consistency(apply_fix(task_only, block, Fix.UPDATE_TEXT), CHART) == ()


def test_a_fix_refuses_when_the_text_changed_since_the_check() -> None:
    draft = draft_with("HR 78/min.", HR_96)
    (mismatch,) = check_consistency(draft, CHART)
    changed = draft.with_section_text("objective", "Seen. " + draft.section("objective").text)
    with pytest.raises(DraftEditError):
        apply_fix(changed, mismatch, Fix.UPDATE_TEXT)
    with pytest.raises(DraftEditError):
        apply_fix(draft, mismatch, Fix.ADD_ITEM)  # not one of its fixes


def test_mismatches_are_validation_warnings() -> None:
    draft = draft_with("HR 78/min.", HR_96)
    report = validate_for_approval(
        draft,
        CONTEXT.patient.reference,
        CONTEXT.encounter.reference,
        template=None,
        write_permissions=WritePermissions.allowing("DocumentReference", "Observation"),
        now=NOW,
        chart=CHART,
    )
    (problem,) = report.of_kind(ProblemKind.NARRATIVE_MISMATCH)
    assert not problem.blocking and problem.field_path == "section:objective"
    assert report.can_approve


def test_the_mismatch_key_is_stable_while_nothing_changes() -> None:
    draft = draft_with("HR 78/min.", HR_96)
    assert check_consistency(draft, CHART)[0].key == check_consistency(draft, CHART)[0].key
    other = draft.with_item(replace(HR_96, value=Decimal(97)))
    assert (
        check_consistency(sync_blocks(other), CHART)[0].key
        != check_consistency(draft, CHART)[0].key
    )


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("HR 78/min", [("8867-4", "78", "/min")]),
        ("Heart rate: 78 beats/minute (2025-03-10 09:00)", [("8867-4", "78", "/min")]),
        ("BP 142/88 mmHg", [("8480-6", "142", "mm[Hg]"), ("8462-4", "88", "mm[Hg]")]),
        ("sats 97% on air", [("59408-5", "97", "%")]),
        ("SpO2: 95 %", [("59408-5", "95", "%")]),
        ("Temp 37.2C", [("8310-5", "37.2", "Cel")]),
        ("RR is 16", [("9279-1", "16", None)]),
        ("Wt 82.5 kg", [("29463-7", "82.5", "kg")]),
        ("HR 96 in clinic", [("8867-4", "96", None)]),  # "in" is not inches for a heart rate
        ("hr 5, for 2 hr, Pulses: 2+ radial", []),  # hours and pulses are not heart rates
        ("Recheck A1c and BP in 3 months", []),
        ("BP 120", []),  # a blood pressure needs both numbers
        ("HbA1c 7.8 %", [("4548-4", "7.8", "%")]),
    ],
)
def test_mentions_in_the_words_clinicians_write(
    text: str, found: list[tuple[str, str, str | None]]
) -> None:
    got = [
        (code, str(value), m.unit)
        for m in find_mentions("s", text)
        for code, value in zip(m.codes, m.values, strict=True)
    ]
    assert got == [(c, v, u) for c, v, u in found]


def test_same_value_respects_written_precision_and_units() -> None:
    assert same_value(Decimal("78"), None, Decimal("78.4"), "/min", "8867-4")
    assert not same_value(Decimal("78"), None, Decimal("79"), "/min", "8867-4")
    assert same_value(Decimal("98.6"), None, Decimal("37"), "Cel", "8310-5")
    assert same_value(Decimal("5.4"), "mmol/L", Decimal("97"), "mg/dL", "2339-0") is None
