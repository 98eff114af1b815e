"""The worklist page: the day's visits in a table, one key from anywhere.

Renders what :class:`WorklistViewModel` emits and forwards keys and clicks; it holds no state
of its own but the table's rows. Keys on this page (listed with the others under Help ›
Keyboard shortcuts): Up/Down move, Enter opens the visit, F5 reads the day again,
Alt+Left / Alt+Right the previous / next day, Alt+Home today; Ctrl+Shift+W comes back here
from anywhere in the window.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.domain.worklist import NoteState, Visit, VisitStatus, Worklist
from app.ui.shortcuts import shortcut
from app.ui.style import error_label, heading_label, hint_label
from app.ui.worklist_model import WorklistViewModel, age_words

COLUMNS = ("Time", "Patient", "Age", "MRN", "Visit", "Status", "Note", "Results", "Offline")
_NOTE_COLOURS = {
    NoteState.CONFLICT: "#fdecea",
    NoteState.NEEDS_ATTENTION: "#fdecea",
    NoteState.WAITING_FOR_REVIEW: "#fff8e1",
    NoteState.DRAFT: "#fff8e1",
    NoteState.SENT: "#e8f5e9",
}
_Index = QModelIndex | QPersistentModelIndex


def _cell(visit: Visit, column: int, day: date, zone: Any) -> str:
    if column == 0:
        return f"{visit.start.astimezone(zone):%H:%M}" if visit.start else "—"
    if column == 1:
        return visit.patient_name
    if column == 2:
        return age_words(visit, day)
    if column == 3:
        return visit.mrn or ""
    if column == 4:
        return visit.type_text
    if column == 5:
        return visit.status.words
    if column == 6:
        return visit.note.words
    if column == 7:
        return "New results" if visit.new_results else ""
    return offline_words(visit)


def offline_words(visit: Visit) -> str:
    """Whether the chart opens without the EHR (kept on this computer)."""
    if not visit.can_open:
        return ""
    return "Kept" if visit.kept_offline else "Not kept"


class WorklistTableModel(QAbstractTableModel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.visits: tuple[Visit, ...] = ()
        self.day = date.today()
        self.zone: Any = None

    def show(self, worklist: Worklist | None, zone: Any) -> None:
        self.beginResetModel()
        self.visits = worklist.visits if worklist else ()
        self.day = worklist.day if worklist else date.today()
        self.zone = zone
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.visits)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = 0) -> Any:
        if not index.isValid():
            return None
        visit = self.visits[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _cell(visit, index.column(), self.day, self.zone)
        if role == Qt.ItemDataRole.BackgroundRole and index.column() == 6:
            colour = _NOTE_COLOURS.get(visit.note)
            return QBrush(QColor(colour)) if colour else None
        if role == Qt.ItemDataRole.ForegroundRole and visit.status is VisitStatus.CANCELLED:
            return QBrush(QColor("#777777"))
        if role == Qt.ItemDataRole.ToolTipRole and not visit.can_open:
            return "Booked: opens once the patient has arrived"
        return None


class WorklistPage(QWidget):
    def __init__(self, model: WorklistViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.heading = heading_label("My day")
        top.addWidget(self.heading, 1)
        self.previous_button = QPushButton("◀ Previous day")
        self.today_button = QPushButton("Today")
        self.next_button = QPushButton("Next day ▶")
        self.refresh_button = QPushButton("Refresh (F5)")
        self.find_button = QPushButton("Find a patient…")
        for button in (
            self.previous_button,
            self.today_button,
            self.next_button,
            self.refresh_button,
            self.find_button,
        ):
            button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
            top.addWidget(button)
        layout.addLayout(top)
        self.status_label = hint_label("")
        layout.addWidget(self.status_label)
        self.error_label = error_label("")
        self.error_label.hide()
        layout.addWidget(self.error_label)

        self.table_model = WorklistTableModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.table_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)  # the visit's kind
        self._sized_for: object = None  # columns fitted once per day shown, not per update
        self.table.activated.connect(lambda index: model.open_row(index.row()))
        layout.addWidget(self.table, 1)
        self.listener_label = hint_label("")
        layout.addWidget(self.listener_label)

        self.previous_button.clicked.connect(model.previous_day)
        self.next_button.clicked.connect(model.next_day)
        self.today_button.clicked.connect(model.go_today)
        self.refresh_button.clicked.connect(model.refresh)
        self.shortcuts = {
            name: self._page_key(name, slot)
            for name, slot in (
                ("worklist-refresh", model.refresh),
                ("worklist-previous-day", model.previous_day),
                ("worklist-next-day", model.next_day),
                ("worklist-today", model.go_today),
                ("worklist-open", self.open_current),
            )
        }
        model.changed.connect(self._show)
        model.status.connect(self._status)
        model.error.connect(self._error)
        model.busy.connect(lambda busy: self.refresh_button.setEnabled(not busy))

    def _page_key(self, name: str, slot: Any) -> list[QShortcut]:
        made = []
        for key in shortcut(name).keys:
            made_key = QShortcut(QKeySequence(key), self)
            made_key.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            made_key.activated.connect(slot)
            made.append(made_key)
        return made

    def open_current(self) -> None:
        index = self.table.currentIndex()
        if index.isValid():
            self.model.open_row(index.row())

    def focus_table(self) -> None:
        self.table.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _show(self, worklist: Worklist | None) -> None:
        current = self.table.currentIndex()
        key = None
        if current.isValid() and current.row() < len(self.table_model.visits):
            key = self.table_model.visits[current.row()].key
        service = self.model.service
        self.table_model.show(worklist, service.zone if service else None)
        day = worklist.day if worklist else None
        if day != self._sized_for and worklist is not None and worklist.visits:
            self._sized_for = day
            for column in range(len(COLUMNS)):
                if column != 4:
                    self.table.resizeColumnToContents(column)
            self.table.setColumnWidth(1, max(self.table.columnWidth(1), 260))
            self.table.setColumnWidth(6, max(self.table.columnWidth(6), 190))  # room for the
            # longest note state ("Waiting for your review") when it comes later
        rows = [v.key for v in self.table_model.visits]
        row = rows.index(key) if key in rows else (0 if rows else -1)
        if row >= 0:
            self.table.selectRow(row)
        self.listener_label.setText(self.model.listener_words())

    def _status(self, text: str) -> None:
        """ "Today, Monday 7 December · 16 visits · as of 08:12": the day in the heading, the
        rest under it."""
        day, _, rest = text.partition(" · ")
        self.heading.setText(f"My day — {day}" if day else "My day")
        self.status_label.setText(rest)

    def _error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))
