"""Clinicians read clinical words (docs/ui-words.md): no FHIR resource type names, no "commit",
no "baseline". Checked on every string the real window shows in several states (signed in with
a chart, items with bad input, the review dialog, help, the outbox) and on the word tables the
window draws from. Only the review dialog's "FHIR detail (for IT)" view may use FHIR names."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable, Iterator
from dataclasses import fields

import fhir.resources.R4B as r4b
import pytest
from fhir.resources.R4B.resource import Resource
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTableView,
    QTableWidget,
    QTabWidget,
    QTextBrowser,
    QTreeWidget,
    QWidget,
)
from pytestqt.qtbot import QtBot

from app.domain.clinical import Reference
from app.domain.items import ITEM_KINDS, NOTE_WRITES
from app.domain.items.observation import ObservationItem
from app.domain.items.task import TaskItem
from app.services.workbench import Workbench
from app.ui.shortcuts import KEYS_IN_FIELDS, SHORTCUTS
from tests.support.smart_fixtures import ScriptedBrowser
from tests.ui.test_end_to_end import signed_in_window, wait_until
from tests.ui.test_keyboard_flow import workbench  # noqa: F401 - the sandbox workbench fixture

IT_VIEWS = {"fhirDetail"}  # widgets (by object name) for IT: FHIR words allowed there


def resource_types() -> set[str]:
    found: set[str] = set()
    for module in pkgutil.iter_modules(r4b.__path__):
        loaded = importlib.import_module(f"{r4b.__name__}.{module.name}")
        for name, value in vars(loaded).items():
            if (
                isinstance(value, type)
                and issubclass(value, Resource)
                and value is not Resource
                and getattr(value, "get_resource_type", lambda: None)() == name
            ):
                found.add(name)
    return found


TYPES = resource_types()
COMPOUND = sorted(t for t in TYPES if re.search(r"[a-z][A-Z]", t))  # DocumentReference, ...
SINGLE = sorted(t for t in TYPES if t not in COMPOUND)  # Task, Observation: English words too
_COMPOUND = re.compile(r"\b(" + "|".join(COMPOUND) + r")\b")
_SINGLE_AS_FHIR = re.compile(
    r"\b(" + "|".join(SINGLE) + r")(/|\s+resources?\b)|\bFHIR\s+(" + "|".join(SINGLE) + r")\b"
)
_SINGLE_FHIR_ONLY = re.compile(r"\b(Practitioner|Provenance|Bundle|OperationOutcome|Endpoint)\b")
_INTERNAL = re.compile(r"\b(commit|commits|committed|committing|baseline|baselines)\b", re.I)


def problems_in(text: str) -> list[str]:
    found = []
    for pattern in (_COMPOUND, _SINGLE_AS_FHIR, _SINGLE_FHIR_ONLY, _INTERNAL):
        found.extend(m.group(0) for m in pattern.finditer(text))
    return found


def test_the_checker_catches_what_it_should() -> None:
    assert "DocumentReference" in COMPOUND and "Task" in SINGLE
    assert problems_in("Sent as DocumentReference/Provenance")
    assert problems_in("Owner: Practitioner/prac-2") and problems_in("a Task resource")
    assert problems_in("The commit is queued") and problems_in("Compared with the baseline")
    assert not problems_in("Add follow-up task") and not problems_in("Observation: 78 bpm")
    assert not problems_in("Vital signs, the chart, send, note")


def _in_it_view(widget: QWidget) -> bool:
    current: QWidget | None = widget
    while current is not None:
        if current.objectName() in IT_VIEWS:
            return True
        current = current.parentWidget()
    return False


def widget_strings(root: QWidget) -> Iterator[tuple[str, str]]:
    """(where, text) for every string a person can see or hear in ``root``."""
    for widget in [root, *root.findChildren(QWidget)]:
        if _in_it_view(widget) or (not widget.isVisibleTo(root.window()) and widget is not root):
            continue
        where = f"{type(widget).__name__} {widget.objectName() or widget.accessibleName()}"
        yield where, widget.toolTip()
        yield where, widget.accessibleName()
        yield where, widget.windowTitle()
        if isinstance(widget, QLabel | QAbstractButton):
            yield where, widget.text()
        if isinstance(widget, QLineEdit):
            yield where, widget.placeholderText()
        if isinstance(widget, QPlainTextEdit):
            yield where, widget.placeholderText()
            yield where, widget.toPlainText()
        if isinstance(widget, QTextBrowser):
            yield where, widget.toPlainText()
        if isinstance(widget, QTabWidget):
            yield from ((where, widget.tabText(i)) for i in range(widget.count()))
        if isinstance(widget, QComboBox):
            yield from ((where, widget.itemText(i)) for i in range(widget.count()))
        if isinstance(widget, QTableWidget):
            yield from _table_strings(where, widget)
        elif isinstance(widget, QTableView) and widget.model() is not None:
            yield from _view_strings(where, widget)
        if isinstance(widget, QTreeWidget):
            yield from _tree_strings(where, widget)
    for action in root.findChildren(QAction):
        yield "action", action.text()
        yield "action", action.toolTip()


def _view_strings(where: str, view: QTableView) -> Iterator[tuple[str, str]]:
    model = view.model()
    for r in range(model.rowCount()):
        for c in range(model.columnCount()):
            yield where, str(model.index(r, c).data() or "")
    for c in range(model.columnCount()):
        yield where, str(model.headerData(c, view.horizontalHeader().orientation()) or "")


def _tree_strings(where: str, tree: QTreeWidget) -> Iterator[tuple[str, str]]:
    items = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    while items:
        item = items.pop()
        if item is None:
            continue
        yield from ((where, item.text(c)) for c in range(item.columnCount()))
        yield from ((where, item.toolTip(c)) for c in range(item.columnCount()))
        items.extend(item.child(i) for i in range(item.childCount()))


def _table_strings(where: str, table: QTableWidget) -> Iterator[tuple[str, str]]:
    for c in range(table.columnCount()):
        header = table.horizontalHeaderItem(c)
        if header is not None:
            yield where, header.text()
            yield where, header.toolTip()
    for r in range(table.rowCount()):
        for c in range(table.columnCount()):
            cell = table.item(r, c)
            if cell is not None:
                yield where, cell.text()
                yield where, cell.toolTip()


def word_tables() -> Iterator[tuple[str, str]]:
    """The tables the window draws its words from."""
    for kind in ITEM_KINDS:
        words = kind.words
        yield from ((f"{kind.key} words", str(getattr(words, f.name))) for f in fields(words))
        for column in kind.columns:
            yield from (
                (f"{kind.key} column", t) for t in (column.header, column.hint, *column.choices)
            )
    for write in NOTE_WRITES:
        yield f"{write.resource_type} words", write.label
        yield f"{write.resource_type} words", write.cannot
    for shortcut in SHORTCUTS:
        yield "shortcut", shortcut.words
    yield from (("keys", words) for _keys, words in KEYS_IN_FIELDS)


def offending(strings: Iterable[tuple[str, str]]) -> list[str]:
    return sorted({f"{where}: {text!r} ({', '.join(problems_in(text))})" for where, text in strings
                   if text and problems_in(text)})  # fmt: skip


def test_the_word_tables_speak_clinical_words() -> None:
    assert offending(word_tables()) == []


@pytest.mark.slow
async def test_what_the_window_shows_speaks_clinical_words(
    qtbot: QtBot,
    workbench: Workbench,  # noqa: F811
    scripted_browser: ScriptedBrowser,
) -> None:
    parts = await signed_in_window(qtbot, workbench)
    window, workspace = parts.window, parts.workspace
    shown: list[tuple[str, str]] = [*widget_strings(window)]  # the chart, a fresh draft

    drafts = workspace.drafts
    bp = ObservationItem("bp-1", "85354-9", "Blood pressure", None, "mm[Hg]")
    drafts.edit_item(bp)
    drafts.edit_item(TaskItem("t-1", "Recheck blood pressure",
                              Reference("Practitioner", "prac-2", "Dr. Robert Jones"), None))  # fmt: skip
    await wait_until(lambda: workspace.editor.table_for("task").table.rowCount() == 1, 5)
    workspace.editor.table_for("observation").table.item(0, 1).setText("142/")  # refused, kept
    workspace.editor.table_for("task").table.item(0, 2).setText("someday")
    drafts.refresh_diff()
    shown += widget_strings(window)  # items, bad input, problems next to the fields

    workspace.editor.table_for("observation").table.item(0, 1).setText("128/82")
    workspace.editor.table_for("task").table.item(0, 2).setText("+2w")
    workspace.editor.section_edits["plan"].setPlainText("Recheck blood pressure in 2 weeks.")
    await wait_until(lambda: workspace.approve_button.isEnabled(), 15)
    workspace.approve_button.click()
    await wait_until(lambda: workspace.approval_dialog is not None, 15)
    dialog = workspace.approval_dialog
    assert dialog is not None
    shown += widget_strings(dialog)  # the review, its "What will be written"
    assert (
        "FHIR" in dialog.fhir_detail.toPlainText()
        or "DocumentReference" in dialog.fhir_detail.toPlainText()
    )
    dialog.reject()

    parts.help_menu.show_shortcuts()  # type: ignore[union-attr]
    shown += widget_strings(parts.help_menu.dialog)  # type: ignore[union-attr]
    parts.outbox.toggle()
    shown += widget_strings(window)
    assert len(shown) > 200
    QApplication.processEvents()
    found = offending(shown)
    assert found == [], "\n".join(found)
