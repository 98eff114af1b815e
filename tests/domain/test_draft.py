from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from app.domain.clinical import Reference
from app.domain.draft import (
    DraftStatus,
    ObservationItem,
    TaskItem,
    TaskStatus,
    new_item_id,
)
from app.domain.errors import DraftEditError
from app.domain.prefill import prefill_draft
from app.domain.templates import NoteTemplate, TemplateSection
from tests.domain.conftest import NOW, make_context

TEMPLATE = NoteTemplate("t", "T", 1, (TemplateSection("a", "A"), TemplateSection("b", "B")))


def test_edits_return_new_drafts_and_track_modification() -> None:
    draft = prefill_draft(make_context(), TEMPLATE, now=NOW)
    assert not draft.is_modified
    edited = draft.with_section_text("a", "hello")
    assert edited.section("a").text == "hello"
    assert draft.section("a").text == ""
    assert edited.is_modified
    assert edited.with_section_text("a", "").is_modified is False


def test_items_are_added_replaced_in_place_and_removed() -> None:
    draft = prefill_draft(make_context(), TEMPLATE, now=NOW)
    obs = ObservationItem(new_item_id(), "8867-4", "Heart rate", Decimal(80), "/min")
    task = TaskItem(
        new_item_id(), "Recheck A1c", Reference("Practitioner", "prac-2"), date(2025, 6, 1)
    )
    d = draft.with_item(obs).with_item(task)
    assert [i.item_id for i in d.items] == [obs.item_id, task.item_id]
    d = d.with_item(replace(obs, value=Decimal(82)))
    assert [i.item_id for i in d.items] == [obs.item_id, task.item_id]
    assert d.item(obs.item_id).value == Decimal(82)  # type: ignore[union-attr]
    assert task.status is TaskStatus.REQUESTED
    d = d.without_item(obs.item_id)
    assert [i.item_id for i in d.items] == [task.item_id]
    with pytest.raises(DraftEditError):
        d.without_item("nope")


def test_unknown_section_is_refused() -> None:
    draft = prefill_draft(make_context(), TEMPLATE, now=NOW)
    with pytest.raises(DraftEditError):
        draft.with_section_text("zzz", "x")


def test_approved_draft_is_immutable() -> None:
    draft = replace(prefill_draft(make_context(), TEMPLATE, now=NOW), status=DraftStatus.APPROVED)
    with pytest.raises(DraftEditError, match="Correct this note, or Add an addendum"):
        draft.with_section_text("a", "x")
