"""The note editor: narrative sections on the left, structured items on the right.

The widget renders a ``Draft`` and reports edits as signals; it keeps no draft of its own.
The view-model (``DraftViewModel``) applies the edits to the domain object, autosaves and diffs.

Keyboard first: Tab and Shift+Tab leave a section (Ctrl+Tab types a tab character); the
sections come first in the Tab order; F2 / Shift+F2 jump to the next / previous blank
(``***``, as in the EHRs' note writers) or empty section; ``next_section`` and
``previous_section`` move between sections; ``add_row`` opens a new item row for typing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QTextCursor
from PySide6.QtWidgets import (
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.domain.context import EncounterContext
from app.domain.draft import Draft
from app.domain.items import ITEM_KINDS
from app.domain.templates import BLANK
from app.domain.validation import ValidationProblem, ValidationReport
from app.ui.block_highlighter import BlockHighlighter
from app.ui.entry_model import EntryViewModel
from app.ui.item_table import ItemTable

# Three lines of text: the four sections of a SOAP note fit at 1280×720 (docs/screenshots).
SECTION_MIN_HEIGHT = 56


def _problem_line(problem: ValidationProblem) -> str:
    return ("⚠ " if not problem.blocking else "✖ ") + problem.message


class SectionEdit(QPlainTextEdit):
    """A note section: Tab leaves it (as in any form); Ctrl+Tab types a tab character."""

    def __init__(self) -> None:
        super().__init__()
        self.setTabChangesFocus(True)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if (
            event.key() == Qt.Key.Key_Tab
            and event.modifiers() == Qt.KeyboardModifier.ControlModifier
        ):
            self.insertPlainText("\t")
            return
        super().keyPressEvent(event)


class NoteEditor(QWidget):
    section_edited = Signal(str, str)  # key, text
    item_edited = Signal(object)  # StructuredItem
    item_removed = Signal(str)  # item_id
    unaccepted_changed = Signal(object)  # tuple[UnacceptedText, ...]: every refused cell text

    def __init__(self, parent: QWidget | None = None, entry: EntryViewModel | None = None) -> None:
        super().__init__(parent)
        self.entry = entry
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title_label = QLabel("")
        self.title_label.setObjectName("sectionTitle")
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.title_label)
        self.notice_label = QLabel("")
        self.notice_label.setObjectName("warningText")
        self.notice_label.setWordWrap(True)
        self.notice_label.setTextFormat(Qt.TextFormat.PlainText)
        self.notice_label.hide()
        layout.addWidget(self.notice_label)

        split = QSplitter(Qt.Orientation.Horizontal, self)
        self.split = split
        self.sections_area = QScrollArea(split)
        self.sections_area.setWidgetResizable(True)
        self.sections_host = QWidget()
        self.sections_layout = QVBoxLayout(self.sections_host)
        self.sections_layout.setContentsMargins(4, 4, 4, 4)
        self.sections_area.setWidget(self.sections_host)
        # Sections one above the other with a divider between each: drag it to give a
        # section more room (remembered). When the sections' smallest sizes do not fit, the
        # area scrolls: every section stays reachable.
        self.sections_splitter = QSplitter(Qt.Orientation.Vertical)
        self.sections_splitter.setChildrenCollapsible(False)
        self.sections_splitter.setHandleWidth(7)
        self.sections_layout.addWidget(self.sections_splitter)
        self.on_sections_built: Callable[[QSplitter], None] = lambda _splitter: None
        self.section_edits: dict[str, SectionEdit] = {}
        self.section_problems: dict[str, QLabel] = {}

        self.items_tabs = QTabWidget()
        # one table per kind of the catalogue, in its order
        self.tables: dict[str, ItemTable] = {}
        for kind in ITEM_KINDS:
            table = ItemTable(kind, entry)
            table.edited.connect(self.item_edited)
            table.removed.connect(self.item_removed)
            table.unaccepted_changed.connect(self._unaccepted_changed)
            self.items_tabs.addTab(table, kind.words.tab)
            self.tables[kind.key] = table
        self.item_problems = QLabel("")
        self.item_problems.setObjectName("errorText")
        self.item_problems.setWordWrap(True)
        self.item_problems.setTextFormat(Qt.TextFormat.PlainText)
        self.item_problems.hide()
        self.items_box = QWidget(split)
        box = QVBoxLayout(self.items_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.items_tabs, 1)
        box.addWidget(self.item_problems)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([600, 400])
        self.sections_area.setMinimumWidth(320)
        layout.addWidget(split, 1)
        self._draft_id: object = None

    def show_draft(
        self,
        draft: Draft,
        placeholders: dict[str, str] | None = None,
        context: EncounterContext | None = None,
    ) -> None:
        """Render ``draft``. Section editors are rebuilt only for a different draft, so the
        cursor stays where the clinician is typing. ``context`` gives the rows of kinds listed
        from the chart (one medication reconciliation row per active medication)."""
        editable = draft.is_editable
        another = self._draft_id != draft.id
        self.title_label.setText(draft.title)
        keys = [s.key for s in draft.sections]
        if another or keys != list(self.section_edits):
            self._rebuild_sections(draft, placeholders or {})
            self._draft_id = draft.id
        for section in draft.sections:
            edit = self.section_edits[section.key]
            if edit.toPlainText() != section.text:
                edit.blockSignals(True)
                edit.setPlainText(section.text)
                edit.blockSignals(False)
            edit.setReadOnly(not editable)
        for table in self.tables.values():
            table.show_items(table.kind.rows(draft.items, context), editable)
        if another and editable and draft.unaccepted:  # typed before the app last closed
            for table in self.tables.values():
                table.restore_unaccepted(draft.unaccepted)
            self._unaccepted_changed()  # once: a text used now is no longer kept

    def _unaccepted_changed(self) -> None:
        self.unaccepted_changed.emit(
            tuple(text for table in self.tables.values() for text in table.unaccepted())
        )

    def _rebuild_sections(self, draft: Draft, placeholders: dict[str, str]) -> None:
        splitter = self.sections_splitter
        for index in reversed(range(splitter.count())):
            old = splitter.widget(index)
            if old is not None:
                old.hide()
                old.setParent(None)
                old.deleteLater()
        self.section_edits = {}
        self.section_problems = {}
        self.highlighters: dict[str, BlockHighlighter] = {}
        for section in draft.sections:
            box = QWidget()
            column = QVBoxLayout(box)
            column.setContentsMargins(0, 0, 0, 0)
            column.setSpacing(2)
            title = QLabel(section.title)
            title.setObjectName("sectionTitle")
            title.setTextFormat(Qt.TextFormat.PlainText)
            edit = SectionEdit()
            edit.setAccessibleName(f"{section.title} section")
            edit.setPlaceholderText(placeholders.get(section.key, ""))
            edit.setMinimumHeight(SECTION_MIN_HEIGHT)
            # the app-maintained block (its items follow the table) marked apart from free text
            self.highlighters[section.key] = BlockHighlighter(edit.document())
            edit.textChanged.connect(
                lambda k=section.key, e=edit: self.section_edited.emit(k, e.toPlainText())
            )
            problems = QLabel("")
            problems.setObjectName("errorText")
            problems.setWordWrap(True)
            problems.setTextFormat(Qt.TextFormat.PlainText)
            problems.hide()
            column.addWidget(title)
            column.addWidget(edit, 1)
            column.addWidget(problems)
            splitter.addWidget(box)
            box.show()  # not left to the layout's queued show: focus may go there at once
            self.section_edits[section.key] = edit
            self.section_problems[section.key] = problems
        splitter.setSizes([1000] * splitter.count())  # equal shares until the clinician drags
        self.on_sections_built(splitter)
        self._chain_tab_order()

    def _chain_tab_order(self) -> None:
        """Sections first, in order, then the item tabs and their tables."""
        chain: list[QWidget] = [*self.section_edits.values(), self.items_tabs]
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)

    def show_problems(self, report: ValidationReport | None) -> None:
        """Each validation problem next to the field it concerns (section or item row)."""
        for key, label in self.section_problems.items():
            found = report.for_field(f"section:{key}") if report else ()
            label.setText("\n".join(_problem_line(p) for p in found))
            label.setVisible(bool(found))
        lines: list[str] = []
        for table in self.tables.values():
            untouched = table.untouched_ids()
            table.mark_rows(report, untouched)
            if report is not None:
                for row_item_id, row_name in table.row_labels():
                    found = report.for_item(row_item_id)
                    if row_item_id in untouched and found:
                        lines.append(f"{row_name}: not filled in yet (type in it, or remove it)")
                        continue
                    lines.extend(f"{row_name}: {_problem_line(p)}" for p in found)
        if report is not None:
            lines.extend(
                _problem_line(p)
                for p in report.problems
                if not p.field_path.startswith(("section:", "item:"))
            )
        self.item_problems.setText("\n".join(lines))
        self.item_problems.setVisible(bool(lines))

    def table_for(self, kind_key: str) -> ItemTable:
        return self.tables[kind_key]

    # ------------------------------------------------------------------ keyboard
    def focus_first_section(self) -> None:
        """The cursor in the first section (once the new section editors are shown)."""
        QTimer.singleShot(0, self, self._focus_first)  # dropped if the editor is gone

    def _focus_first(self) -> None:
        edits = [e for e in self.section_edits.values() if shiboken6.isValid(e)]
        if edits:
            edits[0].setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _current_section(self) -> int:
        edits = list(self.section_edits.values())
        return next((i for i, e in enumerate(edits) if e.hasFocus()), -1)

    def next_section(self, step: int = 1) -> None:
        """Move to the next (``step`` 1) or previous (-1) section, wrapping round."""
        edits = list(self.section_edits.values())
        if not edits:
            return
        here = self._current_section()
        target = edits[(here + step) % len(edits)] if here >= 0 else edits[0 if step > 0 else -1]
        target.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.sections_area.ensureWidgetVisible(target)

    def next_blank(self, step: int = 1) -> bool:
        """Select the next (previous) blank ``***`` after (before) the cursor, through the
        sections in order and round again; without one, go to the next empty section. False
        when the note has neither."""
        edits = list(self.section_edits.values())
        if not edits:
            return False
        here = max(self._current_section(), 0)
        order = [(here + step * i) % len(edits) for i in range(len(edits) + 1)]
        for n, index in enumerate(order):
            edit = edits[index]
            text = edit.toPlainText()
            cursor = edit.textCursor()
            if n == 0:
                start = cursor.selectionEnd() if step > 0 else cursor.selectionStart() - 1
            else:
                start = 0 if step > 0 else len(text)
            found = text.find(BLANK, start) if step > 0 else text.rfind(BLANK, 0, max(start, 0))
            if found >= 0:
                return self._select(edit, found, found + len(BLANK))
        empty = [e for e in (edits[i] for i in order[1:]) if not e.toPlainText().strip()]
        if empty:
            empty[0].setFocus(Qt.FocusReason.ShortcutFocusReason)
            self.sections_area.ensureWidgetVisible(empty[0])
            return True
        return False

    def _select(self, edit: SectionEdit, start: int, end: int) -> bool:
        cursor = edit.textCursor()
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        edit.setTextCursor(cursor)
        edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.sections_area.ensureWidgetVisible(edit)
        return True

    def add_row(self, kind_key: str) -> None:
        """Show the kind's tab and open a new row for typing (Add observation, task...)."""
        table = self.tables[kind_key]
        self.items_tabs.setCurrentWidget(table)
        table.add_row()

    def pending_entries(self) -> list[str]:
        """Texts typed into item cells that could not be used yet, with what to type."""
        lines = []
        for table in self.tables.values():
            names = dict(table.row_labels())
            for (item_id, column), (_text, words) in table.pending.items():
                lines.append(
                    f"{names.get(item_id, table.kind.words.row)}, {table.kind.columns[column].header}: {words}"
                )
        return lines

    def show_notice(self, text: str, tone: str = "warningText") -> None:
        """A line above the sections; ``tone`` is its style: warningText (yellow), okText
        (green: done), errorText (red)."""
        if self.notice_label.objectName() != tone:
            self.notice_label.setObjectName(tone)
            self.notice_label.style().unpolish(self.notice_label)
            self.notice_label.style().polish(self.notice_label)
        self.notice_label.setText(text)
        self.notice_label.setVisible(bool(text))
