from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.domain.draft import DraftSource
from app.domain.prefill import amendment_draft, prefill_draft
from app.domain.render import render_plain_text
from app.domain.templates import parse_template
from tests.domain.conftest import NOW, make_context
from tests.domain.test_templates import load_bundled


def soap():  # type: ignore[no-untyped-def]
    return next(parse_template(t) for t in load_bundled() if t["id"] == "soap")


def test_soap_prefill_puts_context_where_the_template_says() -> None:
    ctx = make_context()
    draft = prefill_draft(ctx, soap(), now=NOW)
    objective = draft.section("objective").text
    assert "Heart rate: 78 bpm (2025-03-10 09:15)" in objective
    assert "91" not in objective  # only the latest heart rate
    assert "Blood pressure: 142/88 mmHg" in objective
    # labs failed to load: the note says so rather than pretending there are none
    assert "Laboratory results: could not be loaded" in objective
    assessment = draft.section("assessment").text
    assert "Diabetes mellitus type 2" in assessment and "Old fracture" not in assessment
    assert "metformin" in draft.section("plan").text
    assert "Penicillin G (high criticality; Eruption of skin)" in draft.section("subjective").text
    assert draft.baseline.sections == draft.sections
    assert draft.provenance.source is DraftSource.PREFILLED
    assert draft.patient.id == "pat-1" and draft.encounter.id == "enc-1"
    assert draft.title == "Progress note" and draft.revision == 0


def test_prefill_uses_the_display_time_zone() -> None:
    draft = prefill_draft(make_context(), soap(), now=NOW, display_tz=timezone(timedelta(hours=-5)))
    assert "(2025-03-10 04:15)" in draft.section("objective").text


def test_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError):
        prefill_draft(make_context(), soap(), now=datetime(2025, 1, 1))


def test_amendment_keeps_the_chart_text_as_baseline() -> None:
    ctx = make_context()
    note = ctx.notes.items[0]
    draft = amendment_draft(ctx, note, now=NOW)
    assert draft.amends is not None
    assert draft.amends.document.relative == "DocumentReference/docref-1"
    assert draft.amends.version_id == "3"
    assert draft.baseline.sections[0].text == note.text
    assert render_plain_text(draft) == note.text
    assert draft.provenance.source is DraftSource.AMENDMENT


def test_render_plain_text_lists_filled_sections() -> None:
    draft = prefill_draft(make_context(), soap(), now=NOW).with_section_text(
        "subjective", "Feels well."
    )
    text = render_plain_text(draft)
    assert text.startswith("Subjective:\nFeels well.\n\nObjective:\n")
