"""The note editor: narrative sections on the left, structured items on the right.

The widget renders a ``Draft`` and reports edits as signals; it keeps no draft of its own.
The view-model (``DraftViewModel``) applies the edits to the domain object, autosaves and diffs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.domain.context import EncounterContext
from app.domain.draft import Draft
from app.domain.items import ITEM_KINDS, CellChange, ItemKind
from app.domain.validation import ValidationProblem, ValidationReport
from app.ui.block_highlighter import BlockHighlighter

NONE_CHOSEN = "—"  # how an empty choice reads in a choice cell's list


def _problem_line(problem: ValidationProblem) -> str:
    return ("⚠ " if not problem.blocking else "✖ ") + problem.message


class ChoiceDelegate(QStyledItemDelegate):
    """A drop-down editor for the columns whose texts are picked from a list (status,
    priority, a medication decision); the cell keeps plain text, so the table stays generic."""

    def __init__(self, choices: dict[int, tuple[str, ...]], parent: QWidget) -> None:
        super().__init__(parent)
        self.choices = choices  # column -> texts

    def createEditor(
        self,
        parent: QWidget,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> QWidget:
        texts = self.choices.get(index.column())
        if not texts:
            return super().createEditor(parent, option, index)
        combo = QComboBox(parent)
        for text in texts:
            combo.addItem(text or NONE_CHOSEN, text)
        return combo

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:
        if isinstance(editor, QComboBox):
            found = editor.findData(index.data(Qt.ItemDataRole.EditRole) or "")
            editor.setCurrentIndex(max(found, 0))
        else:
            super().setEditorData(editor, index)

    def setModelData(
        self, editor: QWidget, model: Any, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        if isinstance(editor, QComboBox):
            model.setData(index, editor.currentData() or "", Qt.ItemDataRole.EditRole)
        else:
            super().setModelData(editor, model, index)


class ItemTable(QWidget):
    """The items of one kind as a table whose columns are the kind's declared columns
    (``ItemKind.columns``). Renders rows and forwards edits: an edited cell goes through its
    column's parser into a new item (``edited``), or ``removed`` when the kind no longer keeps
    the item (a medication decision cleared)."""

    edited = Signal(object)  # StructuredItem
    removed = Signal(str)  # item_id

    def __init__(self, kind: ItemKind[Any]) -> None:
        super().__init__()
        self.kind = kind
        self._rows: list[Any] = []  # the items shown, row by row
        columns = kind.columns
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, len(columns), self)
        self.table.setAccessibleName(kind.words.tab)
        self.table.setHorizontalHeaderLabels([c.header for c in columns])
        for c, column in enumerate(columns):
            header = self.table.horizontalHeaderItem(c)
            if header is not None and column.hint:
                header.setToolTip(column.hint)
        choices = {c: col.choices for c, col in enumerate(columns) if col.choices}
        self.table.setItemDelegate(ChoiceDelegate(choices, self.table))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.itemChanged.connect(self._changed)
        layout.addWidget(self.table)
        row = QHBoxLayout()
        self.add_button = QPushButton(kind.words.add or "Add")
        self.add_button.clicked.connect(self._add)
        self.add_button.setVisible(kind.new_item is not None)
        self.remove_button = QPushButton("Remove selected")
        self.remove_button.clicked.connect(self._remove)
        self.remove_button.setVisible(kind.new_item is not None)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        layout.addLayout(row)
        self._filling = False

    def show_items(self, rows: Sequence[Any], editable: bool) -> None:
        self._filling = True
        try:
            self._rows = list(rows)
            self.table.setRowCount(len(rows))
            for r, item in enumerate(rows):
                for c, column in enumerate(self.kind.columns):
                    cell = QTableWidgetItem(column.get(item))
                    cell.setData(Qt.ItemDataRole.UserRole, item.item_id)
                    if not editable or column.set is None:
                        cell.setFlags(cell.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    self.table.setItem(r, c, cell)
        finally:
            self._filling = False
        self.add_button.setEnabled(editable)
        self.remove_button.setEnabled(editable)

    def item_at(self, row: int) -> Any:
        return self._rows[row]

    def row_labels(self) -> list[tuple[str, str]]:
        """(item id, what the row is called) for each row, to name it in problem lists."""
        out = []
        for r, item in enumerate(self._rows):
            first = self.kind.columns[0].get(item) if self.kind.columns else ""
            label = self.kind.name_of(item) or first.strip() or f"Row {r + 1}"
            out.append((item.item_id, f"{self.kind.words.row} “{label}”"))
        return out

    def mark_rows(self, report: ValidationReport | None) -> None:
        """Colour each row by its worst problem; each cell's tooltip shows the problems of its
        field (its column's validation slot), else those of the whole item."""
        self._filling = True
        try:
            for r, item in enumerate(self._rows):
                problems = report.for_item(item.item_id) if report else ()
                blocking = any(p.blocking for p in problems)
                colour = QColor("#fdecea") if blocking else QColor("#fff8e1") if problems else None
                for c, column in enumerate(self.kind.columns):
                    cell = self.table.item(r, c)
                    if cell is None:
                        continue
                    path = f"item:{item.item_id}:{column.field}"
                    own = [p for p in problems if p.field_path == path] or list(problems)
                    cell.setBackground(colour if colour is not None else QColor(0, 0, 0, 0))
                    cell.setToolTip("\n".join(p.message for p in own))
        finally:
            self._filling = False

    def _changed(self, cell: QTableWidgetItem) -> None:
        if self._filling or cell.row() >= len(self._rows):
            return
        edit = self.kind.edit_cell(self._rows[cell.row()], cell.column(), cell.text())
        self._rows[cell.row()] = edit.item
        if edit.change is CellChange.KEEP:
            self.edited.emit(edit.item)
        elif edit.change is CellChange.REMOVE:
            self.removed.emit(edit.item.item_id)

    def _add(self) -> None:
        if self.kind.new_item is not None:
            self.edited.emit(self.kind.new_item())

    def _remove(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        for row in rows:
            if row < len(self._rows):
                self.removed.emit(self._rows[row].item_id)


class NoteEditor(QWidget):
    section_edited = Signal(str, str)  # key, text
    item_edited = Signal(object)  # StructuredItem
    item_removed = Signal(str)  # item_id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
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
        self.sections_area = QScrollArea(split)
        self.sections_area.setWidgetResizable(True)
        self.sections_host = QWidget()
        self.sections_layout = QVBoxLayout(self.sections_host)
        self.sections_area.setWidget(self.sections_host)
        self.section_edits: dict[str, QPlainTextEdit] = {}
        self.section_problems: dict[str, QLabel] = {}

        self.items_tabs = QTabWidget()
        # one table per kind of the catalogue, in its order
        self.tables: dict[str, ItemTable] = {}
        for kind in ITEM_KINDS:
            table = ItemTable(kind)
            table.edited.connect(self.item_edited)
            table.removed.connect(self.item_removed)
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
        self.title_label.setText(draft.title)
        keys = [s.key for s in draft.sections]
        if self._draft_id != draft.id or keys != list(self.section_edits):
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

    def _rebuild_sections(self, draft: Draft, placeholders: dict[str, str]) -> None:
        while self.sections_layout.count():
            child = self.sections_layout.takeAt(0)
            widget = child.widget() if child is not None else None
            if widget is not None:
                widget.deleteLater()
        self.section_edits = {}
        self.section_problems = {}
        self.highlighters: dict[str, BlockHighlighter] = {}
        for section in draft.sections:
            title = QLabel(section.title)
            title.setObjectName("sectionTitle")
            title.setTextFormat(Qt.TextFormat.PlainText)
            edit = QPlainTextEdit()
            edit.setAccessibleName(f"{section.title} section")
            edit.setPlaceholderText(placeholders.get(section.key, ""))
            edit.setMinimumHeight(90)
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
            self.sections_layout.addWidget(title)
            self.sections_layout.addWidget(edit)
            self.sections_layout.addWidget(problems)
            self.section_edits[section.key] = edit
            self.section_problems[section.key] = problems
        self.sections_layout.addStretch(1)

    def show_problems(self, report: ValidationReport | None) -> None:
        """Each validation problem next to the field it concerns (section or item row)."""
        for key, label in self.section_problems.items():
            found = report.for_field(f"section:{key}") if report else ()
            label.setText("\n".join(_problem_line(p) for p in found))
            label.setVisible(bool(found))
        lines: list[str] = []
        for table in self.tables.values():
            table.mark_rows(report)
            if report is not None:
                for row_item_id, row_name in table.row_labels():
                    lines.extend(
                        f"{row_name}: {_problem_line(p)}" for p in report.for_item(row_item_id)
                    )
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

    def show_notice(self, text: str) -> None:
        self.notice_label.setText(text)
        self.notice_label.setVisible(bool(text))
