"""The note editor: narrative sections on the left, structured items on the right.

The widget renders a ``Draft`` and reports edits as signals; it keeps no draft of its own.
The view-model (``DraftViewModel``) applies the edits to the domain object, autosaves and diffs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import TypeVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.domain.clinical import Reference
from app.domain.draft import (
    Draft,
    MessageItem,
    ObservationItem,
    Priority,
    StructuredItem,
    TaskItem,
    TaskStatus,
    new_item_id,
)
from app.domain.validation import ValidationProblem, ValidationReport

OBS_COLUMNS = ("LOINC code", "Name", "Value", "Unit (UCUM)")
TASK_COLUMNS = ("Task", "Owner", "Due", "Status")
MSG_COLUMNS = ("To", "Message", "Priority")
COLUMN_HINTS = {
    "Owner": "Who does it: a reference such as Practitioner/prac-2",
    "To": "Who receives it: a reference such as Practitioner/prac-2",
    "Due": "Due date, YYYY-MM-DD",
    "Status": "requested, accepted, in-progress, on-hold, completed, cancelled",
    "Priority": "routine, urgent, asap or stat",
    "Unit (UCUM)": "UCUM unit, for example /min, mm[Hg], kg, Cel, %",
}


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Reference):
        return value.relative + (f" ({value.display})" if value.display else "")
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "value"):
        return str(value.value)
    return str(value)


def parse_reference(text: str) -> Reference | None:
    text = text.strip()
    if not text:
        return None
    display = None
    if "(" in text and text.endswith(")"):
        text, _, rest = text.partition("(")
        display = rest[:-1].strip() or None
    return Reference.parse(text.strip(), display)


def parse_decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


E = TypeVar("E", bound=Enum)


def _enum(cls: type[E], text: str, default: E) -> E:
    for member in cls:
        if member.value == text.strip().lower():
            return member
    return default


def _problem_line(problem: ValidationProblem) -> str:
    return ("⚠ " if not problem.blocking else "✖ ") + problem.message


class ItemTable(QWidget):
    """One table of structured items of one kind, with add and remove buttons."""

    edited = Signal(object)  # StructuredItem
    removed = Signal(str)  # item_id

    def __init__(
        self,
        kind_label: str,
        columns: tuple[str, ...],
        kind: type,
        to_row: Callable[[StructuredItem], list[str]],
        from_row: Callable[[str, list[str]], StructuredItem],
        new_item: Callable[[], StructuredItem],
        add_label: str,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.kind_label = kind_label
        self._to_row, self._from_row, self._new = to_row, from_row, new_item
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, len(columns), self)
        self.table.setHorizontalHeaderLabels(list(columns))
        for c, name in enumerate(columns):
            header = self.table.horizontalHeaderItem(c)
            if header is not None and name in COLUMN_HINTS:
                header.setToolTip(COLUMN_HINTS[name])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.itemChanged.connect(self._changed)
        layout.addWidget(self.table)
        row = QHBoxLayout()
        self.add_button = QPushButton(add_label)
        self.add_button.clicked.connect(lambda: self.edited.emit(self._new()))
        self.remove_button = QPushButton("Remove selected")
        self.remove_button.clicked.connect(self._remove)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        layout.addLayout(row)
        self._filling = False

    def show_items(self, items: list[StructuredItem], editable: bool) -> None:
        self._filling = True
        try:
            self.table.setRowCount(len(items))
            for r, item in enumerate(items):
                for c, text in enumerate(self._to_row(item)):
                    cell = QTableWidgetItem(text)
                    cell.setData(Qt.ItemDataRole.UserRole, item.item_id)
                    if not editable:
                        cell.setFlags(cell.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    self.table.setItem(r, c, cell)
        finally:
            self._filling = False
        self.add_button.setEnabled(editable)
        self.remove_button.setEnabled(editable)

    def row_labels(self) -> list[tuple[str, str]]:
        """(item id, what the row is called) for each row, to name it in problem lists."""
        out = []
        for row in range(self.table.rowCount()):
            item_id, values = self._row_values(row)
            label = next((v for v in values[:2][::-1] if v.strip()), "") or f"Row {row + 1}"
            out.append((item_id, f"{self.kind_label} “{label}”"))
        return out

    def mark_rows(self, report: ValidationReport | None) -> None:
        self._filling = True
        try:
            for row in range(self.table.rowCount()):
                item_id, _ = self._row_values(row)
                problems = report.for_item(item_id) if report else ()
                blocking = any(p.blocking for p in problems)
                colour = QColor("#fdecea") if blocking else QColor("#fff8e1") if problems else None
                for c in range(self.table.columnCount()):
                    cell = self.table.item(row, c)
                    if cell is None:
                        continue
                    cell.setBackground(colour if colour is not None else QColor(0, 0, 0, 0))
                    cell.setToolTip("\n".join(p.message for p in problems))
        finally:
            self._filling = False

    def _row_values(self, row: int) -> tuple[str, list[str]]:
        cells = [self.table.item(row, c) for c in range(self.table.columnCount())]
        item_id = cells[0].data(Qt.ItemDataRole.UserRole) if cells[0] else new_item_id()
        return str(item_id), [c.text() if c else "" for c in cells]

    def _changed(self, cell: QTableWidgetItem) -> None:
        if self._filling:
            return
        item_id, values = self._row_values(cell.row())
        self.edited.emit(self._from_row(item_id, values))

    def _remove(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        for row in rows:
            item_id, _ = self._row_values(row)
            self.removed.emit(item_id)


def _obs_row(item: StructuredItem) -> list[str]:
    assert isinstance(item, ObservationItem)
    return [item.loinc_code, item.display, _text(item.value), item.unit or ""]


def _obs_from(item_id: str, v: list[str]) -> StructuredItem:
    return ObservationItem(
        item_id=item_id,
        loinc_code=v[0].strip(),
        display=v[1].strip(),
        value=parse_decimal(v[2]),
        unit=v[3].strip() or None,
    )


def _task_row(item: StructuredItem) -> list[str]:
    assert isinstance(item, TaskItem)
    return [item.description, _text(item.owner), _text(item.due), item.status.value]


def _task_from(item_id: str, v: list[str]) -> StructuredItem:
    return TaskItem(
        item_id=item_id,
        description=v[0].strip(),
        owner=parse_reference(v[1]),
        due=parse_date(v[2]),
        status=_enum(TaskStatus, v[3], TaskStatus.REQUESTED),
    )


def _msg_row(item: StructuredItem) -> list[str]:
    assert isinstance(item, MessageItem)
    return [_text(item.recipient), item.text, item.priority.value]


def _msg_from(item_id: str, v: list[str]) -> StructuredItem:
    return MessageItem(
        item_id=item_id,
        recipient=parse_reference(v[0]),
        text=v[1].strip(),
        priority=_enum(Priority, v[2], Priority.ROUTINE),
    )


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
        self.observations = ItemTable(
            "Observation",
            OBS_COLUMNS,
            ObservationItem,
            _obs_row,
            _obs_from,
            lambda: ObservationItem(new_item_id(), "", "", None, None),
            "Add observation",
        )
        self.tasks = ItemTable(
            "Task",
            TASK_COLUMNS,
            TaskItem,
            _task_row,
            _task_from,
            lambda: TaskItem(new_item_id(), "", None, None),
            "Add follow-up task",
        )
        self.messages = ItemTable(
            "Message",
            MSG_COLUMNS,
            MessageItem,
            _msg_row,
            _msg_from,
            lambda: MessageItem(new_item_id(), None, ""),
            "Add message",
        )
        for table, name in (
            (self.observations, "Observations"),
            (self.tasks, "Tasks"),
            (self.messages, "Messages to care team"),
        ):
            table.edited.connect(self.item_edited)
            table.removed.connect(self.item_removed)
            self.items_tabs.addTab(table, name)
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

    def show_draft(self, draft: Draft, placeholders: dict[str, str] | None = None) -> None:
        """Render ``draft``. Section editors are rebuilt only for a different draft, so the
        cursor stays where the clinician is typing."""
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
        items = list(draft.items)
        self.observations.show_items([i for i in items if isinstance(i, ObservationItem)], editable)
        self.tasks.show_items([i for i in items if isinstance(i, TaskItem)], editable)
        self.messages.show_items([i for i in items if isinstance(i, MessageItem)], editable)

    def _rebuild_sections(self, draft: Draft, placeholders: dict[str, str]) -> None:
        while self.sections_layout.count():
            child = self.sections_layout.takeAt(0)
            widget = child.widget() if child is not None else None
            if widget is not None:
                widget.deleteLater()
        self.section_edits = {}
        self.section_problems = {}
        for section in draft.sections:
            title = QLabel(section.title)
            title.setObjectName("sectionTitle")
            title.setTextFormat(Qt.TextFormat.PlainText)
            edit = QPlainTextEdit()
            edit.setAccessibleName(f"{section.title} section")
            edit.setPlaceholderText(placeholders.get(section.key, ""))
            edit.setMinimumHeight(90)
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
        for table in (self.observations, self.tasks, self.messages):
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

    def show_notice(self, text: str) -> None:
        self.notice_label.setText(text)
        self.notice_label.setVisible(bool(text))
