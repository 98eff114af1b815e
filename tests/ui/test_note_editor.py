"""pytest-qt tests of the note editor's item tables, which are generated from the catalogue's
column declarations: one tab per kind, cells that parse into items, choice cells, medication
rows from the chart, and problems shown on the cell of the field they concern."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from PySide6.QtWidgets import QComboBox, QStyleOptionViewItem
from pytestqt.qtbot import QtBot

from app.domain.clinical import Medication
from app.domain.context import ContextSection, EncounterContext
from app.domain.diff import diff_draft
from app.domain.draft import Draft
from app.domain.items import ITEM_KINDS
from app.domain.items.medication_reconciliation import MedicationDecision
from app.domain.items.observation import ObservationItem
from app.domain.items.symptom import SymptomItem, SymptomSeverity
from app.domain.validation import WritePermissions, validate_for_approval
from app.ui.diff_view import inline_html
from app.ui.item_table import REFUSED
from app.ui.note_editor import NoteEditor
from tests.domain.conftest import NOW, make_context
from tests.support.drafts import ENCOUNTER, PATIENT, SOAP, make_draft, symptom


@pytest.fixture
def editor(qtbot: QtBot) -> NoteEditor:
    widget = NoteEditor()
    qtbot.addWidget(widget)
    return widget


def two_medications() -> EncounterContext:
    ctx = make_context()
    lisinopril = Medication("medrx-2", "lisinopril 10 MG Oral Tablet", None, "active", "daily")
    return replace(ctx, medications=ContextSection(items=(*ctx.medications.items, lisinopril)))


def test_one_tab_per_kind_with_the_declared_headers(editor: NoteEditor) -> None:
    tabs = [editor.items_tabs.tabText(i) for i in range(editor.items_tabs.count())]
    assert tabs == [k.words.tab for k in ITEM_KINDS]
    table = editor.table_for("observation").table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers == ["Observation", "Value", "Unit", "LOINC"]


def test_editing_a_cell_changes_only_that_field(editor: NoteEditor, qtbot: QtBot) -> None:
    """The columns parse one field each: the time and comment of an imported observation
    survive an edit of its value (the old table rebuilt the item from its four cells)."""
    hr = ObservationItem("hr", "8867-4", "Heart rate", Decimal(72), "/min", NOW, "after a walk")
    editor.show_draft(make_draft((hr,)))
    table = editor.table_for("observation").table
    with qtbot.waitSignal(editor.item_edited) as signal:
        table.item(0, 1).setText("96")
    assert signal.args == [replace(hr, value=Decimal(96))]


def test_medication_rows_come_from_the_chart_and_a_decision_adds_the_item(
    editor: NoteEditor, qtbot: QtBot
) -> None:
    editor.show_draft(make_draft(()), context=two_medications())
    meds = editor.table_for("medication_reconciliation")
    assert meds.table.rowCount() == 2
    assert meds.table.item(1, 0).text() == "lisinopril 10 MG Oral Tablet"
    assert meds.add_button.isHidden() and meds.remove_button.isHidden()
    with qtbot.waitSignal(editor.item_edited) as signal:
        meds.table.item(1, 2).setText("stopped")
    [item] = signal.args
    assert item.decision is MedicationDecision.STOPPED and item.medication.id == "medrx-2"

    editor.show_draft(make_draft((item,)), context=two_medications())
    assert meds.table.item(1, 2).text() == "stopped"
    with qtbot.waitSignal(editor.item_removed) as removed:
        meds.table.item(1, 2).setText("")  # clearing the decision takes it out of the draft
    assert removed.args == [item.item_id]


def test_choice_cells_edit_with_a_drop_down(editor: NoteEditor) -> None:
    editor.show_draft(make_draft((symptom(),)))
    table = editor.table_for("symptom").table
    index = table.model().index(0, 1)
    delegate = table.itemDelegate()
    combo = delegate.createEditor(table.viewport(), QStyleOptionViewItem(), index)
    assert isinstance(combo, QComboBox)
    assert [combo.itemData(i) for i in range(combo.count())] == ["", "mild", "moderate", "severe"]
    delegate.setEditorData(combo, index)
    assert combo.currentData() == "moderate"


def test_adding_a_symptom_and_problems_on_their_cells(editor: NoteEditor, qtbot: QtBot) -> None:
    symptoms = editor.table_for("symptom")
    editor.show_draft(make_draft(()))
    with qtbot.waitSignal(editor.item_edited) as signal:
        symptoms.add_button.click()
    [blank] = signal.args
    assert isinstance(blank, SymptomItem) and blank.severity is None
    draft = make_draft((replace(blank, description="Cough"),))
    editor.show_draft(draft)
    report = validate_for_approval(
        draft, PATIENT, ENCOUNTER, template=SOAP,
        write_permissions=WritePermissions.allowing("DocumentReference", "Observation"), now=NOW,
    )  # fmt: skip
    editor.show_problems(report)
    assert "Choose how severe Cough is" in symptoms.table.item(0, 1).toolTip()
    assert "Symptom “Cough”: ✖ Choose how severe" in editor.item_problems.text()
    with qtbot.waitSignal(editor.item_edited) as edited:
        symptoms.table.item(0, 1).setText("mild")
    assert edited.args[0].severity is SymptomSeverity.MILD


def test_the_diff_names_items_by_their_kind_and_line() -> None:
    html = inline_html(diff_draft(make_draft((symptom(),))))
    assert "<td>Symptom</td>" in html
    assert "Headache: moderate, since 2025-03-07" in html


def test_a_row_not_typed_in_yet_is_not_marked_as_wrong(editor: NoteEditor, qtbot: QtBot) -> None:
    """A new row is blank on purpose: no red before anything is typed, one calm line saying
    it is not filled in; once typed in, its problems show as for any row."""
    symptoms = editor.table_for("symptom")
    editor.show_draft(make_draft(()))
    with qtbot.waitSignal(editor.item_edited) as signal:
        symptoms.add_button.click()
    [blank] = signal.args
    permissions = WritePermissions.allowing("DocumentReference", "Observation")

    def shown(draft: Draft) -> None:
        editor.show_draft(draft)
        editor.show_problems(validate_for_approval(
            draft, PATIENT, ENCOUNTER, template=SOAP, write_permissions=permissions, now=NOW
        ))  # fmt: skip

    shown(make_draft((blank,)))
    cell = symptoms.table.item(0, 0)
    assert cell.background().color() != REFUSED
    assert "“Row 1”: not filled in yet (type in it, or remove it)" in editor.item_problems.text()
    assert "✖" not in editor.item_problems.text()

    shown(make_draft((replace(blank, description="Cough"),)))
    assert symptoms.table.item(0, 1).background().color() == REFUSED
    assert "Symptom “Cough”: ✖ Choose how severe" in editor.item_problems.text()
