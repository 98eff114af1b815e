"""The editor with the keyboard only: pickers that offer matches as one types (an observation by
"bp", an owner by "jones"), previews of what a typed date becomes, bad input kept in its cell
with words saying what to type, Tab leaving a section, Ctrl+Tab typing a tab, F2 finding the
next blank."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.domain.clinical import Reference
from app.domain.draft import NoteSection
from app.domain.items.observation import ObservationItem
from app.domain.items.task import TaskItem
from app.domain.owners import OwnerCandidate, OwnerSource
from app.services.terminology import TerminologySearch
from app.ui.entry_model import EntryViewModel
from app.ui.item_table import EntryLineEdit, ItemTable
from app.ui.note_editor import NoteEditor
from app.ui.tasks import TaskTracker
from tests.support.drafts import make_draft
from tests.ui.test_end_to_end import wait_until

TODAY = date(2025, 5, 14)
JONES = OwnerCandidate(Reference("Practitioner", "prac-2", "Dr. Robert Jones"), "Dr. Robert Jones",
                       "Physician", OwnerSource.CARE_TEAM)  # fmt: skip


@pytest.fixture
def editor(qtbot: QtBot) -> NoteEditor:
    entry = EntryViewModel(TerminologySearch(), TaskTracker(), today=lambda: TODAY)
    entry.owners = (JONES,)
    widget = NoteEditor(entry=entry)
    qtbot.addWidget(widget)
    widget.resize(1200, 700)
    widget.show()
    return widget


def cell_editor(editor: NoteEditor, kind: str) -> EntryLineEdit:
    focused = QApplication.focusWidget()
    assert isinstance(focused, EntryLineEdit), f"no cell editor open in {kind}: {focused}"
    return focused


def open_due_date_editor(editor: NoteEditor) -> tuple[ItemTable, EntryLineEdit]:
    """A follow-up task's row with its due-date cell's editor open."""
    editor.show_draft(make_draft((TaskItem("t1", "Recheck blood pressure", None, None),)))
    tasks = editor.table_for("task")
    editor.items_tabs.setCurrentWidget(tasks)
    tasks.table.setFocus()
    tasks.table.editItem(tasks.table.item(0, 2))
    return tasks, cell_editor(editor, "task")


def open_observation_picker(editor: NoteEditor) -> tuple[ItemTable, EntryLineEdit]:
    """An empty observation row with its name cell's picker open (as F2 / typing opens it)."""
    editor.show_draft(make_draft((ObservationItem("o1", "", "", None, None),)))
    table = editor.table_for("observation")
    table.table.setFocus()
    table.table.editItem(table.table.item(0, 0))
    return table, cell_editor(editor, "observation")


def test_an_observation_is_picked_by_typing_bp_and_its_value_follows(
    editor: NoteEditor, qtbot: QtBot
) -> None:
    _table, picker = open_observation_picker(editor)
    qtbot.keyClicks(picker, "bp")
    assert picker.matches.rowCount() > 0
    assert picker.matches.item(0).text().startswith("Blood pressure — 85354-9")
    with qtbot.waitSignal(editor.item_edited) as picked:
        qtbot.keyClick(picker, Qt.Key.Key_Return)
    [bp] = picked.args
    assert (bp.loinc_code, bp.display, bp.unit) == ("85354-9", "Blood pressure", "mm[Hg]")
    value = cell_editor(editor, "observation")  # Enter moved on to the value
    qtbot.keyClicks(value, "142/88")
    with qtbot.waitSignal(editor.item_edited) as entered:
        qtbot.keyClick(value, Qt.Key.Key_Return)
    assert [c.value for c in entered.args[0].components] == [Decimal(142), Decimal(88)]


def test_bad_input_stays_with_words_saying_what_to_type(editor: NoteEditor, qtbot: QtBot) -> None:
    bp = ObservationItem("o1", "85354-9", "Blood pressure", None, "mm[Hg]")
    draft = make_draft((bp,))
    editor.show_draft(draft)
    table = editor.table_for("observation")
    edited: list[object] = []
    editor.item_edited.connect(edited.append)
    table.table.item(0, 1).setText("142/")
    assert edited == [], "nothing reaches the draft"
    assert table.table.item(0, 1).text() == "142/", "nothing typed is erased"
    assert "two numbers with a slash, e.g. 142/88" in table.entry_hint.text()
    assert table.entry_hint.isVisible()
    assert "142/88" in table.table.item(0, 1).toolTip()
    editor.show_draft(draft)  # an autosave re-renders: the typed text is still there
    assert table.table.item(0, 1).text() == "142/"
    assert editor.pending_entries() and "Value" in editor.pending_entries()[0]
    table.table.item(0, 1).setText("142/88")
    assert edited and edited[-1].components[0].value == Decimal(142)
    assert editor.pending_entries() == []

    table.table.item(0, 2).setText("stone")  # an unknown unit
    assert "is not a unit for blood pressure; type mmHg" in table.entry_hint.text()
    table.table.item(0, 2).setText("mmHg")
    temp = ObservationItem("t", "8310-5", "Temperature", None, "Cel")
    editor.show_draft(make_draft((temp,)))
    table.table.item(0, 1).setText("37,5")  # a comma decimal in a point locale
    assert "type the decimal with a point: 37.5" in table.entry_hint.text()


def test_a_due_date_is_shown_resolved_before_it_is_accepted(
    editor: NoteEditor, qtbot: QtBot
) -> None:
    tasks, due = open_due_date_editor(editor)
    qtbot.keyClicks(due, "tomorrow")
    assert "Due Thursday 15 May 2025 (tomorrow)" in tasks.entry_hint.text()
    due.clear()
    qtbot.keyClicks(due, "someday")
    assert "is not a date the app can read; type tomorrow, +2w" in tasks.entry_hint.text()
    with qtbot.waitSignal(editor.item_edited) as picked:
        tasks.table.item(0, 1).setText("jones")
    assert picked.args[0].owner == Reference("Practitioner", "prac-2", "Dr. Robert Jones")
    tasks.table.item(0, 1).setText("Dr. Who")
    assert "No one called “Dr. Who”" in tasks.entry_hint.text()
    assert tasks.table.item(0, 1).text() == "Dr. Who"


def test_tab_leaves_a_section_ctrl_tab_types_one_and_f2_finds_blanks(
    editor: NoteEditor, qtbot: QtBot
) -> None:
    draft = make_draft(())
    sections = tuple(
        NoteSection(s.key, s.title, "Follow-up in *** weeks." if s.key == "plan" else "")
        for s in draft.sections
    )
    from dataclasses import replace

    editor.show_draft(replace(draft, sections=sections))
    keys = list(editor.section_edits)
    first, second = editor.section_edits[keys[0]], editor.section_edits[keys[1]]
    editor.focus_first_section()
    qtbot.waitUntil(first.hasFocus)
    qtbot.keyClick(first, Qt.Key.Key_Tab, Qt.KeyboardModifier.ControlModifier)
    assert first.toPlainText() == "\t"
    qtbot.keyClick(first, Qt.Key.Key_Tab)
    assert second.hasFocus(), "Tab moves to the next section"
    assert editor.next_blank(1)
    plan = editor.section_edits["plan"]
    assert plan.hasFocus() and plan.textCursor().selectedText() == "***"
    qtbot.keyClicks(plan, "2")
    assert plan.toPlainText() == "Follow-up in 2 weeks."
    editor.next_section(1)
    assert not plan.hasFocus()


def test_what_is_being_typed_survives_the_row_being_marked_again(
    editor: NoteEditor, qtbot: QtBot
) -> None:
    """A check re-colouring the row (every change revalidates) once reset the open cell to the
    item's text: "bp" vanished while typing."""
    table, picker = open_observation_picker(editor)
    qtbot.keyClicks(picker, "bp")
    table.mark_rows(None, table.untouched_ids())
    editor.show_draft(make_draft((ObservationItem("o1", "", "", None, None),)))  # an autosave
    assert picker.text() == "bp"


def test_a_picked_observation_fills_in_its_row_while_its_value_is_typed(
    editor: NoteEditor, qtbot: QtBot
) -> None:
    """Issue 13 walk-through: after picking "Heart rate" the row showed "8867-4" as the name and
    no unit or code until the row was left; the cells around the open editor follow the item
    (what is typed in the open cell stays)."""
    table, picker = open_observation_picker(editor)
    qtbot.keyClicks(picker, "hr")
    with qtbot.waitSignal(editor.item_edited) as picked:
        qtbot.keyClick(picker, Qt.Key.Key_Return)
    value = cell_editor(editor, "observation")  # Enter moved on to the value
    qtbot.keyClicks(value, "72")
    editor.show_draft(make_draft(tuple(picked.args)))  # the draft takes the pick (autosave)
    shown = [table.table.item(0, c).text() for c in range(4)]
    assert (shown[0], shown[2], shown[3]) == ("Heart rate", "bpm", "8867-4")
    assert value.text() == "72" and cell_editor(editor, "observation") is value


@pytest.mark.parametrize(("typed", "key", "code"), [("hr", Qt.Key.Key_Return, "8867-4"),
                                                     ("temp", Qt.Key.Key_Tab, "8310-5")])  # fmt: skip
def test_enter_or_tab_in_the_open_list_picks_the_best_match(
    editor: NoteEditor, qtbot: QtBot, typed: str, key: Qt.Key, code: str
) -> None:
    """On a real display the open list has the keyboard, and QCompleter handed Enter to the
    cell editor past its delegate: Enter without Down first did nothing, and what was typed
    next ran into the name ("bp142/88"). The key is sent where the list sends it."""
    _table, picker = open_observation_picker(editor)
    qtbot.keyClicks(picker, typed)
    popup = picker.completer_.popup()
    assert popup.isVisible() and not popup.currentIndex().isValid()
    with qtbot.waitSignal(editor.item_edited, timeout=2000) as picked:
        qtbot.keyClick(popup, key)
    assert picked.args[0].loinc_code == code


def test_the_preview_goes_when_the_typed_date_is_accepted(editor: NoteEditor, qtbot: QtBot) -> None:
    """Issue 13 walk-through: "Due Tuesday 8 December (tomorrow) — press Enter to accept" stayed
    under the table after Enter, and after the note was approved and sent."""
    tasks, due = open_due_date_editor(editor)
    qtbot.keyClicks(due, "tomorrow")
    assert tasks.entry_hint.isVisible()
    with qtbot.waitSignal(editor.item_edited):
        qtbot.keyClick(due, Qt.Key.Key_Return)
    assert not tasks.entry_hint.isVisible()


async def test_the_owner_list_follows_the_directory_when_it_answers(
    editor: NoteEditor, qtbot: QtBot
) -> None:
    """Typed "park": nobody of the visit fits. When the directory's answer comes in, the open
    cell offers Dr. Jon Park and stops saying "No one called" — without a new keystroke, and
    without asking the directory again."""
    park = OwnerCandidate(
        Reference("Practitioner", "prac-7", None), "Dr. Jon Park", None, OwnerSource.DIRECTORY
    )
    answer = asyncio.Event()

    class Directory:  # the owner service's calls the picker makes; the test says when it answers
        offline = False
        searches = 0

        async def for_chart(self, _context: object) -> tuple[OwnerCandidate, ...]:
            return ()

        async def search(self, _text: str) -> tuple[OwnerCandidate, ...]:
            self.searches += 1
            await answer.wait()
            return (park,)

    directory = Directory()
    editor.show_draft(make_draft((TaskItem("t1", "Recheck blood pressure", None, None),)))
    tasks = editor.table_for("task")
    assert tasks.entry is not None
    tasks.entry.set_service(directory)  # type: ignore[arg-type]
    tasks.entry.owners = (JONES,)
    editor.items_tabs.setCurrentWidget(tasks)
    tasks.table.setFocus()
    tasks.table.editItem(tasks.table.item(0, 1))
    owner = cell_editor(editor, "task")
    qtbot.keyClicks(owner, "park")
    assert "No one called “park”" in tasks.entry_hint.text()
    await wait_until(lambda: directory.searches == 1, 5)
    answer.set()
    await wait_until(lambda: "No one called" not in tasks.entry_hint.text(), 5)
    assert owner.matches.rowCount() == 1 and "Dr. Jon Park" in owner.matches.item(0).text()
    await asyncio.sleep(1.0)  # three search pauses: the answer started no new search
    assert directory.searches == 1
