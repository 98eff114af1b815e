"""One kind's items as a table whose columns are the kind's declared columns, with the editor
each column's ``Picker`` asks for: type-ahead over the terminology (observations), over the
task-owner candidates (owners), a live preview of what a typed date or value becomes, and a
drop-down for choice columns.

Nothing typed is erased: a text a column cannot use stays in its cell, marked, with the words
saying what to type under the table (and in the cell's tooltip) until it is corrected; the
editor's review refuses while such an entry waits (``pending``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QKeyEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemDelegate,
    QAbstractItemView,
    QApplication,
    QComboBox,
    QCompleter,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.domain.draft import UnacceptedText
from app.domain.entry import EntryContext, EntryRefused
from app.domain.items import CellChange, CellEdit, Column, ItemKind, Picker
from app.domain.validation import ValidationReport
from app.ui.entry_model import EntryViewModel

NONE_CHOSEN = "—"  # how an empty choice reads in a choice cell's list
ENTERED = Qt.ItemDataRole.UserRole  # what picking a match types into the cell
REFUSED = QColor("#fdecea")
WARNED = QColor("#fff8e1")
PICK_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab)


class EntryLineEdit(QLineEdit):
    """A cell editor that offers matches in a pop-up (pickers) and previews its text."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.last_before_choices = False  # Enter ends the row here (choices follow: Tab to them)
        self.on_candidates: Callable[[], None] | None = None  # the picker's list changed
        self.matches = QStandardItemModel(self)
        self.completer_ = QCompleter(self.matches, self)
        self.completer_.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        self.completer_.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer_.setMaxVisibleItems(10)
        self.completer_.setWidget(self)
        popup = self.completer_.popup()
        if popup is not None:
            popup.installEventFilter(self)  # after QCompleter's own filter: runs before it

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """With the pop-up open the keys go to the pop-up, and QCompleter hands Enter and Tab
        to this editor past its delegate (Enter without a highlight then did nothing): they
        are sent to the editor the ordinary way, so the delegate picks the best match."""
        if (
            watched is self.completer_.popup()
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in PICK_KEYS
            and not event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            QApplication.sendEvent(self, event)
            return True
        return super().eventFilter(watched, event)

    def offer(self, rows: Sequence[tuple[str, str]]) -> None:
        """(shown, entered) pairs: the pop-up shows the first, picking enters the second."""
        self.matches.clear()
        for shown, entered in rows:
            item = QStandardItem(shown)
            item.setData(entered, ENTERED)
            self.matches.appendRow(item)
        popup = self.completer_.popup()
        typed = self.text()
        if rows and self.isVisible():
            # nothing highlighted while typing (a highlight would replace the typed text);
            # Enter picks the best match, Down / Up highlight another
            self.completer_.complete()
            if popup is not None:
                popup.setMinimumWidth(max(self.width(), 440))
                popup.setCurrentIndex(QModelIndex())
            if self.text() != typed:
                self.setText(typed)
        elif popup is not None:
            popup.hide()

    def candidates_changed(self) -> None:
        """The directory answered (or the chart's people came in) while this cell is open:
        its matches and its words are worked out again for what is typed."""
        if self.on_candidates is not None and self.isVisible() and self.text().strip():
            self.on_candidates()

    def popup_open(self) -> bool:
        popup = self.completer_.popup()
        return popup is not None and popup.isVisible()

    def highlighted(self) -> str | None:
        """What picking enters: the highlighted match, else the best one (None: no match)."""
        popup = self.completer_.popup()
        index = popup.currentIndex() if popup is not None else None
        if index is not None and index.isValid():
            return str(index.data(ENTERED))
        first = self.matches.item(0)
        return str(first.data(ENTERED)) if first is not None else None

    def move_highlight(self, step: int) -> None:
        popup = self.completer_.popup()
        model = popup.model() if popup is not None else None
        if popup is not None and model is not None and model.rowCount():
            current = popup.currentIndex().row()
            row = (current + step) % model.rowCount() if current >= 0 else (0 if step > 0 else -1)
            popup.setCurrentIndex(model.index(row % model.rowCount(), 0))

    def hide_popup(self) -> None:
        popup = self.completer_.popup()
        if popup is not None:
            popup.hide()


class EntryDelegate(QStyledItemDelegate):
    """Editors by the column's picker; commits on a pick and moves on like Tab."""

    def __init__(self, table: ItemTable) -> None:
        super().__init__(table.table)
        self.owner = table

    def createEditor(
        self,
        parent: QWidget,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> QWidget:
        column = self.owner.kind.columns[index.column()]
        if column.choices:
            combo = QComboBox(parent)
            for text in column.choices:
                combo.addItem(text or NONE_CHOSEN, text)
            return combo
        editor = EntryLineEdit(parent)
        editor.setAccessibleName(column.header)
        editor.last_before_choices = self.owner.ends_typing(index.column())
        row, c = index.row(), index.column()
        editor.textEdited.connect(lambda text: self.owner.typed(row, c, text, editor))
        entry = self.owner.entry
        if column.picker is Picker.OWNER and entry is not None:
            editor.on_candidates = lambda: self.owner.typed(row, c, editor.text(), editor, False)
            entry.owners_changed.connect(editor.candidates_changed)  # ends with the editor
        editor.completer_.activated[QModelIndex].connect(  # type: ignore[index]
            lambda picked: self._picked(editor, str(picked.data(ENTERED)))
        )
        return editor

    def _picked(self, editor: EntryLineEdit, picked: str) -> None:
        editor.setText(picked)
        self.commitData.emit(editor)
        self.closeEditor.emit(editor, QAbstractItemDelegate.EndEditHint.EditNextItem)

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:
        if isinstance(editor, QLineEdit) and editor.isModified():
            return  # the cell changed colour under a typing clinician: never erase what is typed
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

    def eventFilter(self, editor: QObject, event: QEvent) -> bool:
        """Enter (and Tab) with matches offered picks the highlighted one; Enter commits and
        moves to the next cell (like Tab), so a row is filled in one go."""
        if (
            isinstance(editor, EntryLineEdit)
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and not event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            key = event.key()
            if editor.popup_open() and key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                editor.move_highlight(1 if key == Qt.Key.Key_Down else -1)
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab):
                picked = editor.highlighted() if editor.popup_open() else None
                if picked is not None:
                    editor.setText(picked)
                editor.hide_popup()
                if key != Qt.Key.Key_Tab or picked is not None:
                    self.commitData.emit(editor)
                    hint = (
                        QAbstractItemDelegate.EndEditHint.SubmitModelCache
                        if editor.last_before_choices and key != Qt.Key.Key_Tab
                        else QAbstractItemDelegate.EndEditHint.EditNextItem
                    )
                    self.closeEditor.emit(editor, hint)
                    return True
        return super().eventFilter(editor, event)


class ItemTable(QWidget):
    """The items of one kind (see the module docstring). ``edited``: a new or changed item for
    the draft; ``removed``: an item the draft drops."""

    edited = Signal(object)  # StructuredItem
    removed = Signal(str)  # item_id
    unaccepted_changed = Signal()  # a text was refused, or a refused one corrected or removed

    def __init__(self, kind: ItemKind[Any], entry: EntryViewModel | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.entry = entry
        self._rows: list[Any] = []  # the items shown, row by row
        self.pending: dict[tuple[str, int], tuple[str, str]] = {}  # (item, column): text, words
        self._start_editing: str | None = None  # a row just added: edit its first cell
        self._deferred: bool | None = None  # rows to draw once the open cell editor closes
        self._filling = False
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
        delegate = EntryDelegate(self)
        self.table.setItemDelegate(delegate)
        delegate.closeEditor.connect(self._editor_closed)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setTabKeyNavigation(True)
        self.table.itemChanged.connect(self._changed)
        layout.addWidget(self.table)
        self.entry_hint = QLabel("")
        self.entry_hint.setObjectName("entryHint")
        self.entry_hint.setWordWrap(True)
        self.entry_hint.setTextFormat(Qt.TextFormat.PlainText)
        self.entry_hint.hide()
        layout.addWidget(self.entry_hint)
        row = QHBoxLayout()
        self.add_button = QPushButton(kind.words.add or "Add")
        self.add_button.clicked.connect(self.add_row)
        self.add_button.setVisible(kind.new_item is not None)
        self.remove_button = QPushButton("Remove selected")
        self.remove_button.clicked.connect(self._remove)
        self.remove_button.setVisible(kind.new_item is not None)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        layout.addLayout(row)

    # ------------------------------------------------------------------ rendering
    def show_items(self, rows: Sequence[Any], editable: bool) -> None:
        ids = [item.item_id for item in rows]
        if self.table.state() == QAbstractItemView.State.EditingState and ids == [
            item.item_id for item in self._rows
        ]:
            # a save or a check re-rendered while a cell is being typed in: keep the cell
            # editor (and what is typed in it); the rows are drawn again when it closes
            self._rows, self._deferred = list(rows), editable
            self._refresh_cells_around_editor()
            return
        self._deferred = None
        self._filling = True
        try:
            self._rows = list(rows)
            shown = set(ids)
            self.pending = {k: v for k, v in self.pending.items() if k[0] in shown}
            self.table.setRowCount(len(rows))
            for r, item in enumerate(rows):
                for c, column in enumerate(self.kind.columns):
                    waiting = self.pending.get((item.item_id, c))
                    cell = QTableWidgetItem(waiting[0] if waiting else column.get(item))
                    cell.setData(Qt.ItemDataRole.UserRole, item.item_id)
                    if not editable or not column.editable:
                        cell.setFlags(cell.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    if waiting:
                        cell.setBackground(REFUSED)
                        cell.setToolTip(waiting[1])
                    self.table.setItem(r, c, cell)
        finally:
            self._filling = False
        self.add_button.setEnabled(editable)
        self.remove_button.setEnabled(editable)
        self._show_pending()
        self._edit_added_row()

    def _refresh_cells_around_editor(self) -> None:
        """The other cells show what the row now is while one cell is typed in: a picked
        observation's name, unit and code fill in as Enter moves on to its value."""
        editing = self.table.currentIndex()
        self._filling = True
        try:
            for r, item in enumerate(self._rows):
                for c, column in enumerate(self.kind.columns):
                    cell = self.table.item(r, c)
                    if cell is None or (r, c) == (editing.row(), editing.column()):
                        continue
                    if (item.item_id, c) not in self.pending and cell.text() != column.get(item):
                        cell.setText(column.get(item))
        finally:
            self._filling = False

    def _editor_closed(self) -> None:
        if not self.entry_hint.property("refused"):
            self._hint("", refused=False)  # the preview of what was typed: it is accepted now
        if self._deferred is not None:
            QTimer.singleShot(0, self, self._draw_deferred)

    def _draw_deferred(self) -> None:
        if (
            self._deferred is not None
            and self.table.state() != QAbstractItemView.State.EditingState
        ):
            self.show_items(self._rows, self._deferred)

    def _edit_added_row(self) -> None:
        wanted, self._start_editing = self._start_editing, None
        for r, item in enumerate(self._rows):
            if item.item_id == wanted:
                self.table.setFocus()
                self.table.setCurrentCell(r, 0)
                cell = self.table.item(r, 0)
                if cell is not None:
                    self.table.editItem(cell)

    def ends_typing(self, column: int) -> bool:
        """The last column to type in: the rest (if any) are picked from lists or read-only."""
        return all(c.choices or not c.editable for c in self.kind.columns[column + 1 :])

    def row_labels(self) -> list[tuple[str, str]]:
        """(item id, what the row is called) for each row, to name it in problem lists."""
        out = []
        for r, item in enumerate(self._rows):
            first = self.kind.columns[0].get(item) if self.kind.columns else ""
            label = self.kind.name_of(item) or first.strip() or f"Row {r + 1}"
            out.append((item.item_id, f"{self.kind.words.row} “{label}”"))
        return out

    def untouched_ids(self) -> set[str]:
        """The rows added and not typed in yet: every cell reads as a new row's does."""
        if self.kind.new_item is None:
            return set()
        fresh = self.kind.new_item()
        typed = {item_id for item_id, _c in self.pending}
        return {
            item.item_id
            for item in self._rows
            if item.item_id not in typed
            and all(c.get(item) == c.get(fresh) for c in self.kind.columns)
        }

    def mark_rows(self, report: ValidationReport | None, untouched: set[str]) -> None:
        """Colour each row by its worst problem; each cell's tooltip shows the problems of its
        field (its column's validation slot), else those of the whole item. A cell holding a
        text that was not accepted keeps its mark and its words. A row not typed in yet is not
        coloured (``untouched``: their ids): nothing is wrong with what the clinician has not
        written yet."""
        self._filling = True
        try:
            for r, item in enumerate(self._rows):
                problems = report.for_item(item.item_id) if report else ()
                blocking = any(p.blocking for p in problems)
                colour = REFUSED if blocking else WARNED if problems else None
                if item.item_id in untouched:
                    colour = None
                for c, column in enumerate(self.kind.columns):
                    cell = self.table.item(r, c)
                    if cell is None or (item.item_id, c) in self.pending:
                        continue
                    path = f"item:{item.item_id}:{column.field}"
                    own = [p for p in problems if p.field_path == path] or list(problems)
                    cell.setBackground(colour if colour is not None else QColor(0, 0, 0, 0))
                    cell.setToolTip("\n".join(p.message for p in own))
        finally:
            self._filling = False

    # ------------------------------------------------------------------ typing
    def typed(
        self, row: int, column: int, text: str, editor: EntryLineEdit, search: bool = True
    ) -> None:
        """Each keystroke in a cell editor: offer matches, preview what the text becomes
        (``search`` False: with what is known now, no new directory search)."""
        if self.entry is None or row >= len(self._rows):
            return
        declared: Column[Any] = self.kind.columns[column]
        if declared.picker is Picker.OBSERVATION:
            editor.offer([(m.label, m.concept.code) for m in self.entry.observations(text)])
        elif declared.picker is Picker.OWNER:
            matches = self.entry.owner_matches(text, search=search)
            editor.offer([(c.label, c.label) for c in matches[:10]])
        words, ok = self.entry.preview(self.kind, declared, self._rows[row], text)
        self._hint(words, refused=not ok)

    def _hint(self, words: str, *, refused: bool) -> None:
        self.entry_hint.setText(words)
        self.entry_hint.setProperty("refused", refused)
        self.entry_hint.style().unpolish(self.entry_hint)
        self.entry_hint.style().polish(self.entry_hint)
        self.entry_hint.setVisible(bool(words))

    def _show_pending(self) -> None:
        lines = []
        for (item_id, c), (_text, words) in self.pending.items():
            name = next((n for i, n in self.row_labels() if i == item_id), "")
            lines.append(f"{name}, {self.kind.columns[c].header}: {words}")
        if lines:
            self._hint("\n".join(lines), refused=True)
        elif self.entry_hint.property("refused"):
            self._hint("", refused=False)

    def _changed(self, cell: QTableWidgetItem) -> None:
        if self._filling or cell.row() >= len(self._rows):
            return
        edit, refused_changed = self._enter(cell)
        if refused_changed:  # first: the draft forgets a corrected text before the item changes
            self.unaccepted_changed.emit()
        if edit is not None:
            self._tell(edit)

    def _enter(self, cell: QTableWidgetItem) -> tuple[CellEdit[Any] | None, bool]:
        """The cell's text read into its row: the edit, or None when it is refused (kept in
        the cell, red, with its words); and whether the refused texts changed."""
        row, c = self._rows[cell.row()], cell.column()
        entry = self.entry.context() if self.entry is not None else EntryContext(date.today())
        try:
            edit = self.kind.edit_cell(row, c, cell.text(), entry)
        except EntryRefused as refused:
            self.pending[(row.item_id, c)] = (cell.text(), refused.words)
            self._filling = True
            cell.setBackground(REFUSED)
            cell.setToolTip(refused.words)
            self._filling = False
            self._show_pending()
            return None, True
        was_refused = self.pending.pop((row.item_id, c), None) is not None
        self._rows[cell.row()] = edit.item
        self._show_pending()
        return edit, was_refused

    def _tell(self, edit: CellEdit[Any]) -> None:
        if edit.change is CellChange.KEEP:
            self.edited.emit(edit.item)
        elif edit.change is CellChange.REMOVE:
            self.removed.emit(edit.item.item_id)

    def unaccepted(self) -> list[UnacceptedText]:
        """The texts typed into cells and not accepted, as the draft keeps them."""
        return [
            UnacceptedText(item_id, self.kind.columns[c].field, text)
            for (item_id, c), (text, _words) in self.pending.items()
        ]

    def restore_unaccepted(self, kept: Sequence[UnacceptedText]) -> None:
        """Texts a saved draft kept (typed before a restart) back in their cells: checked
        again, refused with their words, or used if they can be now. ``unaccepted_changed``
        is not emitted: the editor says once, for every table, what is still refused."""
        columns = {column.field: c for c, column in enumerate(self.kind.columns)}
        for text in kept:
            r = next((i for i, item in enumerate(self._rows) if item.item_id == text.item_id), None)
            c = columns.get(text.field)
            cell = self.table.item(r, c) if r is not None and c is not None else None
            if cell is None or (text.item_id, c) in self.pending:
                continue
            self._filling = True
            cell.setText(text.text)
            self._filling = False
            edit, _refused_changed = self._enter(cell)
            if edit is not None:  # used now
                self._tell(edit)

    # ------------------------------------------------------------------ rows
    def add_row(self) -> None:
        """A new row, its first cell open for typing."""
        if self.kind.new_item is not None and self.add_button.isEnabled():
            item = self.kind.new_item()
            self._start_editing = item.item_id
            self.edited.emit(item)

    def _remove(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        for row in rows:
            if row < len(self._rows):
                self.pending = {
                    k: v for k, v in self.pending.items() if k[0] != self._rows[row].item_id
                }
                self.unaccepted_changed.emit()
                self.removed.emit(self._rows[row].item_id)
