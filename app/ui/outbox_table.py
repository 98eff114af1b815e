"""The outbox's list as a table that fits the window it is in: no scrolling sideways to read a
commit's state and, when something went wrong, what happened and what to do.

Each line is two text lines high and its words wrap: the state, the patient and what is written
stay in narrow columns, and "Last error", the last column, takes the rest of the width, so its
sentence (what happened, then what to do: at most ~135 characters) is read in full at 1366×768.
Its tooltip and the detail area below hold the rest (the EHR's own words, for IT).

Column widths are counted in characters of the table's font, so they follow the clinic's font
size and scaling. When the window is narrower than the columns need, the columns a person can
do without (their facts are in the state's words and in the detail area) are hidden, least
useful first, and come back when there is room again; the clinician may still drag any divider.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from app.ui.outbox_model import HEADERS, Column, OutboxTableModel

LINES_PER_ROW = 2
# Widths in average characters of the table's font (the header's words fit too).
CHARACTERS: dict[Column, int] = {
    Column.STATE: 30,  # "Will retry at 14:05:07 (attempt 3)" on two lines
    Column.PATIENT: 22,
    Column.SEQUENCE: 5,
    Column.CREATED: 10,  # "14:05:07", or "2025-03-09" over "14:05:07"
    Column.WHAT: 26,
    Column.ATTEMPTS: 6,
    Column.NEXT_ATTEMPT: 10,
    Column.READ_BACK: 18,
}
LAST_ERROR_CHARACTERS = 70  # less than this, and optional columns make room
# What the table may hide when the window is narrow, first hidden first: repeated by the
# state's words ("Will retry at … (attempt 3)") and by the detail area.
OPTIONAL = (Column.NEXT_ATTEMPT, Column.ATTEMPTS, Column.SEQUENCE, Column.WHAT, Column.CREATED)
PADDING = 16  # a cell's margins and the state's dot are counted apart


class OutboxTable(QTableView):
    def __init__(self, model: OutboxTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        self.setWordWrap(True)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setShowGrid(False)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        rows = self.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.horizontalHeader()
        header.setStretchLastSection(True)  # Last error: the last column takes the rest
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self._widths: dict[Column, int] = {}
        self._apply_font_sizes()
        header.sectionResized.connect(self._remember_width)

    def _apply_font_sizes(self) -> None:
        metrics = self.fontMetrics()
        self.verticalHeader().setDefaultSectionSize(
            LINES_PER_ROW * metrics.lineSpacing() + metrics.height() // 2
        )
        header_metrics = self.horizontalHeader().fontMetrics()
        char = metrics.averageCharWidth()
        for column, count in CHARACTERS.items():
            words = header_metrics.horizontalAdvance(HEADERS[column])
            width = max(count * char, words) + PADDING
            self._widths[column] = width
            self.setColumnWidth(column, width)

    def height_for(self, rows: int) -> int:
        """The height that shows the header and ``rows`` whole lines (no horizontal scroll
        bar: the columns fit the width)."""
        header = self.horizontalHeader().sizeHint().height()
        return header + rows * self.verticalHeader().defaultSectionSize() + 2 * self.frameWidth()

    @property
    def last_error_minimum(self) -> int:
        return LAST_ERROR_CHARACTERS * self.fontMetrics().averageCharWidth()

    def _remember_width(self, section: int, _old: int, new: int) -> None:
        column = Column(section)
        if column in self._widths and new > 0 and not self.isColumnHidden(section):
            self._widths[column] = new  # the clinician dragged a divider

    def fit_columns(self) -> None:
        """Hide the optional columns the width cannot hold (first hidden first); show them
        again when it can."""
        room = self.viewport().width() - self.last_error_minimum
        needed = sum(w for c, w in self._widths.items() if c not in OPTIONAL)
        for column in reversed(OPTIONAL):  # the most useful first
            needed += self._widths[column]
            self.setColumnHidden(column, needed > room)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit_columns()
