"""The outbox as a Qt table model: newest commits first, loaded a page at a time.

Opening the panel reads one page (``PAGE_SIZE`` rows, no payloads) however many commits the
outbox holds; the view asks for more through ``canFetchMore``/``fetchMore`` as the clinician
scrolls. :meth:`OutboxTableModel.refresh` re-reads the rows already loaded and tells the view
only what changed (rows inserted, removed or updated), so selection and scroll position stay.
It reads, at the same moment, which commits the runner is sending now (``in_flight``): a commit
stored as SENDING that waits for its turn reads "Waiting to send" (app.ui.outbox_words).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import IntEnum
from typing import Any
from uuid import UUID

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap

from app.domain.outbox import OutboxState
from app.services.outbox import OutboxRow, OutboxService
from app.ui.outbox_words import (
    DISCARDED_COLOUR,
    SEVERITY_COLOURS,
    Severity,
    error_detail,
    error_words,
    local_time,
    read_back_words,
    state_meaning,
    state_severity,
    state_words,
    what_words,
)

PAGE_SIZE = 500
PATIENT_PREFETCH = 50  # patients read per store query: a screenful of rows
ROW_ROLE = Qt.ItemDataRole.UserRole + 1  # the OutboxRow of a line

Index = QModelIndex | QPersistentModelIndex


class Column(IntEnum):
    STATE = 0
    PATIENT = 1
    SEQUENCE = 2
    CREATED = 3
    WHAT = 4
    ATTEMPTS = 5
    NEXT_ATTEMPT = 6
    READ_BACK = 7
    LAST_ERROR = 8  # last: it takes the width left (app.ui.outbox_table)


HEADERS = {
    Column.STATE: "State",
    Column.PATIENT: "Patient",
    Column.SEQUENCE: "#",
    Column.CREATED: "Approved",
    Column.WHAT: "What",
    Column.ATTEMPTS: "Failed",
    Column.NEXT_ATTEMPT: "Next attempt",
    Column.READ_BACK: "Read-back",
    Column.LAST_ERROR: "Last error",
}
HEADER_TIPS = {  # a header too short to say it all
    Column.ATTEMPTS: "Attempts that failed so far (the next one is this number + 1)",
}

_icons: dict[str, QIcon] = {}


def dot_icon(colour: str, size: int = 12) -> QIcon:
    """A filled circle: the state's colour, readable next to its words (never colour alone)."""
    icon = _icons.get(colour)
    if icon is None:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(QColor(colour)))
        painter.drawEllipse(1, 1, size - 2, size - 2)
        painter.end()
        icon = _icons[colour] = QIcon(pixmap)
    return icon


def row_colour(row: OutboxRow) -> str:
    if row.state is OutboxState.DISCARDED:
        return DISCARDED_COLOUR
    return SEVERITY_COLOURS[state_severity(row.item)]


class OutboxTableModel(QAbstractTableModel):
    def __init__(
        self,
        outbox: OutboxService,
        *,
        states: Iterable[OutboxState] | None = None,
        page_size: int = PAGE_SIZE,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._outbox = outbox
        self._states: tuple[OutboxState, ...] | None = None if states is None else tuple(states)
        self._page = page_size
        self._rows: list[OutboxRow] = []
        self._cache: dict[OutboxRow, tuple[str, ...]] = {}
        self._row_index: dict[int, int] = {}  # sequence -> row, rebuilt when a row is missing
        self._more = False
        self._in_flight: frozenset[UUID] = frozenset()
        self._load_first_page()

    # ------------------------------------------------------------------ loading
    @property
    def states(self) -> tuple[OutboxState, ...] | None:
        return self._states

    def set_states(self, states: Iterable[OutboxState] | None) -> None:
        """Show only commits in ``states`` (None: all). Starts again at the newest page."""
        self.beginResetModel()
        self._states = None if states is None else tuple(states)
        self._load_first_page()
        self.endResetModel()

    def _query(self, limit: int, offset: int = 0) -> list[OutboxRow]:
        return self._outbox.rows(self._states, limit=limit, offset=offset)

    def _load_first_page(self) -> None:
        self._set_in_flight(self._outbox.in_flight)
        self._rows = self._query(self._page)
        self._more = len(self._rows) == self._page

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and self._more

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid() or not self._more:
            return
        page = self._query(self._page, offset=len(self._rows))
        self._more = len(page) == self._page
        known = {r.sequence for r in self._rows}
        # The loaded rows are always the newest N (refresh keeps it so), so the next page
        # follows on; skipping known ids guards against a commit approved in between.
        page = [r for r in page if r.sequence not in known]
        if not page:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
        self._rows.extend(page)
        self.endInsertRows()

    def refresh(self, changes: int = 0) -> None:
        """Re-read the loaded rows and apply the difference (removals, insertions, updates).

        ``changes`` (how many store notifications came since the last refresh) bounds how many
        rows can have joined the list: the window grows by that much, so no loaded row — the
        selected one in particular — is pushed out by newer commits.
        """
        limit = max(len(self._rows) + max(changes, 0), self._page)
        new = self._query(limit)
        self._more = len(new) == limit
        # Read with the rows, on the loop the runner runs on: a commit leaves ``in_flight``
        # only after its outcome is stored, so a row is never shown waiting after it was sent.
        turns = self._set_in_flight(self._outbox.in_flight)
        self._apply(new)
        self._repaint_states(turns)

    def refresh_turns(self) -> None:
        """The runner's turns changed (the store is not read): a SENDING line whose turn came
        says "Sending…" now. A turn ends after the commit's outcome is stored, so a line whose
        turn ended keeps its words until the rows are read again (``refresh``, which the store's
        notice of that outcome brings)."""
        started = self._outbox.in_flight - self._in_flight
        if started:
            self._repaint_states(self._set_in_flight(self._in_flight | started))

    def _set_in_flight(self, in_flight: frozenset[UUID]) -> frozenset[UUID]:
        """Returns the commits whose turn came or ended (their cached words are dropped)."""
        turns = in_flight ^ self._in_flight
        self._in_flight = in_flight
        if turns:
            for row in [r for r in self._cache if r.state is OutboxState.SENDING]:
                if row.commit_id in turns:
                    del self._cache[row]
        return turns

    def _repaint_states(self, commit_ids: frozenset[UUID]) -> None:
        if not commit_ids:
            return
        for k, row in enumerate(self._rows):
            if row.state is OutboxState.SENDING and row.commit_id in commit_ids:
                state = self.index(k, Column.STATE)
                self.dataChanged.emit(state, state)

    @property
    def in_flight(self) -> frozenset[UUID]:
        """The commits the lines are shown as being sent for."""
        return self._in_flight

    def _apply(self, new: Sequence[OutboxRow]) -> None:
        # Both lists are ordered by sequence (newest first), so once the rows missing from
        # ``new`` are removed, the rest is a subsequence of ``new`` in the same order. Rows are
        # keyed by their sequence (unique, and read without decoding the row).
        new_seqs = [r.sequence for r in new]
        seqs = [r.sequence for r in self._rows]
        if seqs != new_seqs:
            keep = set(new_seqs)
            i = len(seqs) - 1
            while i >= 0:
                if seqs[i] in keep:
                    i -= 1
                    continue
                j = i
                while j > 0 and seqs[j - 1] not in keep:
                    j -= 1
                self.beginRemoveRows(QModelIndex(), j, i)
                del self._rows[j : i + 1]
                del seqs[j : i + 1]
                self.endRemoveRows()
                i = j - 1
            present = set(seqs)
            i = 0
            while i < len(new):
                if new_seqs[i] in present:
                    i += 1
                    continue
                j = i
                while j + 1 < len(new) and new_seqs[j + 1] not in present:
                    j += 1
                self.beginInsertRows(QModelIndex(), i, j)
                self._rows[i:i] = new[i : j + 1]
                self.endInsertRows()
                i = j + 1
        last_col = len(Column) - 1
        start: int | None = None
        for k, row in enumerate(new):
            changed = self._rows[k] != row
            if changed:
                self._rows[k] = row
                if start is None:
                    start = k
            if start is not None and (not changed or k == len(new) - 1):
                end = k if changed else k - 1
                self.dataChanged.emit(self.index(start, 0), self.index(end, last_col))
                start = None

    # ------------------------------------------------------------------ access
    def row_at(self, row: int) -> OutboxRow | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, commit_id: UUID) -> int | None:
        for i, r in enumerate(self._rows):
            if r.commit_id == commit_id:
                return i
        return None

    @property
    def rows(self) -> Sequence[OutboxRow]:
        return tuple(self._rows)

    # ------------------------------------------------------------------ Qt model
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation is not Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[Column(section)]
        if role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(Column(section))
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role not in _ROLES or not index.isValid():
            return None
        r = index.row()
        if not 0 <= r < len(self._rows):
            return None
        row = self._rows[r]
        column = index.column()
        if role == _DISPLAY:
            return self._texts(row)[column]
        if role == ROW_ROLE:
            return row
        if role == _DECORATION:
            return dot_icon(row_colour(row)) if column == Column.STATE else None
        if role == _TOOLTIP:
            if column == Column.STATE:
                return state_meaning(row.item, self._in_flight)
            if column == Column.LAST_ERROR:  # the words for the clinician; the detail for IT
                return error_detail(row.item) or None
            if column in (Column.READ_BACK, Column.WHAT, Column.PATIENT):
                return self._texts(row)[column] or None
            return None
        if role == _ALIGNMENT:
            return _RIGHT if column in (Column.SEQUENCE, Column.ATTEMPTS) else None
        # foreground: discarded lines greyed, a problem's state in red
        if column == Column.STATE:
            if state_severity(row.item) is Severity.PROBLEM:
                return QBrush(QColor(SEVERITY_COLOURS[Severity.PROBLEM]))
            return None
        return QBrush(QColor("#757575")) if row.state is OutboxState.DISCARDED else None

    def _prefetch_patients(self, row: OutboxRow) -> None:
        """The patients of this row and the next screenful, in one read (decrypted)."""
        index = self._row_index.get(row.sequence)
        if index is None or index >= len(self._rows) or self._rows[index] is not row:
            self._row_index = {r.sequence: i for i, r in enumerate(self._rows)}
            index = self._row_index.get(row.sequence, 0)
        chunk = self._rows[index : index + PATIENT_PREFETCH]
        self._outbox.prefetch_patients([r.commit_id for r in chunk])

    def _texts(self, row: OutboxRow) -> tuple[str, ...]:
        # The view asks for each cell several times per paint; rows are immutable, so their
        # words are computed once (the cache is dropped with the rows it belongs to).
        texts = self._cache.get(row)
        if texts is None:
            self._prefetch_patients(row)
            texts = tuple(
                self._outbox.patient_label(row.commit_id)
                if c is Column.PATIENT
                else _display(row, c, self._in_flight)
                for c in Column
            )
            if len(self._cache) > 4 * self._page:
                self._cache.clear()
            self._cache[row] = texts
        return texts


_DISPLAY = Qt.ItemDataRole.DisplayRole
_DECORATION = Qt.ItemDataRole.DecorationRole
_TOOLTIP = Qt.ItemDataRole.ToolTipRole
_ALIGNMENT = Qt.ItemDataRole.TextAlignmentRole
_ROLES = frozenset(
    {_DISPLAY, _DECORATION, _TOOLTIP, _ALIGNMENT, ROW_ROLE, Qt.ItemDataRole.ForegroundRole}
)
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


def _display(row: OutboxRow, column: Column, in_flight: frozenset[UUID]) -> str:
    item = row.item
    if column is Column.STATE:
        return state_words(item, in_flight=in_flight)
    if column is Column.SEQUENCE:
        return str(item.sequence)
    if column is Column.CREATED:
        return local_time(row.created_at)
    if column is Column.WHAT:
        return what_words(row)
    if column is Column.ATTEMPTS:
        return str(item.attempts) if item.attempts else ""
    if column is Column.NEXT_ATTEMPT:
        waiting = item.state in (OutboxState.RETRY_WAIT, OutboxState.UNKNOWN_OUTCOME)
        return local_time(item.next_attempt_at) if waiting else ""
    if column is Column.LAST_ERROR:
        return error_words(item)
    if column is Column.READ_BACK:
        return read_back_words(row)
    return ""  # the patient: the model asks the service (it decrypts)
