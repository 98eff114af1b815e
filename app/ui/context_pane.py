"""The chart context next to the note: problems, medications, allergies, latest vitals and
labs, prior notes. Each section shows its own loading, error and "skipped" state.

Notes are listed once each (app.domain.note_history): the current version, marked when it was
written from this workstation, with its earlier versions, addenda and other forms one click
away (expand the row). Its menu offers the two follow-ups in plain words: "Correct this
note…" and "Add an addendum…"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QHeaderView, QMenu, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from app.domain.chart_history import SectionHistory
from app.domain.clinical import Allergy, Measurement, Medication, NoteSourceType, PriorNote, Problem
from app.domain.context import (
    ContextSection,
    EncounterContext,
    SectionKind,
    measurement_key,
    results_per_code,
)
from app.domain.draft import FollowUpKind
from app.domain.note_history import NoteThread, note_threads

ORDER = (
    SectionKind.PROBLEMS,
    SectionKind.MEDICATIONS,
    SectionKind.ALLERGIES,
    SectionKind.VITALS,
    SectionKind.LABS,
    SectionKind.NOTES,
)
MUTED = QBrush(QColor("#666666"))
PROBLEM_BRUSH = QBrush(QColor("#8a1111"))
WRITTEN_HERE_BRUSH = QBrush(QColor("#1d5e2f"))


def local_minute(ts: datetime) -> str:
    """A chart time in the computer's time zone (the EHR may send any offset)."""
    return ts.astimezone().strftime("%Y-%m-%d %H:%M")


def describe(item: object) -> tuple[str, str]:
    """(main text, detail) of one context item, plain text."""
    if isinstance(item, Problem):
        onset = f"since {item.onset.isoformat()}" if item.onset else ""
        return item.display, onset
    if isinstance(item, Medication):
        return item.display, item.dosage or ""
    if isinstance(item, Allergy):
        detail = ", ".join(item.reactions)
        if item.criticality.value == "high":
            detail = "HIGH criticality" + (f" — {detail}" if detail else "")
        return item.display, detail
    if isinstance(item, Measurement):
        when = local_minute(item.effective) if item.effective else ""
        return f"{item.name}: {item.display_value}", when
    if isinstance(item, NoteThread):
        note = item.current
        marks = [note.doc_status or note.status or ""]
        if item.replaced:
            marks.append("corrected")
        if item.addenda:
            n = len(item.addenda)
            marks.append(f"{n} addend{'a' if n != 1 else 'um'}")
        if item.written_here:
            marks.append("written here")
        return f"{note.type_display} — {_when(note)}", " · ".join(m for m in marks if m)
    if isinstance(item, PriorNote):
        status = item.doc_status or item.status or ""
        return f"{item.type_display} — {_when(item)}", status
    return str(item), ""


def _when(note: PriorNote) -> str:
    return note.date.astimezone().strftime("%Y-%m-%d %H:%M") if note.date else "undated"


@dataclass(frozen=True)
class MeasurementRow:
    """A vital sign or test once: its latest result, the earlier ones under it (expand the
    row: the flowsheet's history of that row)."""

    latest: Measurement
    earlier: tuple[Measurement, ...]


def _item_row(item: object) -> QTreeWidgetItem:
    """One row of a section (with the rows under it)."""
    if isinstance(item, MeasurementRow):
        text, _when = describe(item.latest)
        row = QTreeWidgetItem([text, _row_detail(item)])
        row.setData(0, Qt.ItemDataRole.UserRole, item)
        row.addChildren([_result_row(m) for m in item.earlier])
        row.setToolTip(0, text)
        return row
    text, detail = describe(item)
    row = QTreeWidgetItem([text, detail])
    row.setToolTip(0, text)
    row.setData(0, Qt.ItemDataRole.UserRole, item)
    if isinstance(item, NoteThread):
        if item.written_here:
            row.setForeground(1, WRITTEN_HERE_BRUSH)
        for words, note in history_rows(item):
            sub = QTreeWidgetItem([words, note.doc_status or note.status or ""])
            sub.setData(0, Qt.ItemDataRole.UserRole, note)
            sub.setForeground(0, MUTED)
            row.addChild(sub)
    return row


def _say(status: QTreeWidgetItem, history: SectionHistory) -> None:
    status.setText(0, history.words)
    status.setToolTip(0, history.words)
    status.setForeground(0, PROBLEM_BRUSH if history.problem else MUTED)


def _row_detail(row: MeasurementRow) -> str:
    """When the latest result was taken, and how many earlier ones are under it."""
    _text, when = describe(row.latest)
    n = len(row.earlier)
    return " · ".join(part for part in (when, f"{n:,} earlier" if n else "") if part)


def _result_row(m: Measurement) -> QTreeWidgetItem:
    row = QTreeWidgetItem([m.display_value, local_minute(m.effective) if m.effective else ""])
    row.setForeground(0, MUTED)
    return row


def _row_key(row: QTreeWidgetItem | None) -> str | None:
    """What a row stands for, across refills (to keep it expanded)."""
    data = None if row is None else row.data(0, Qt.ItemDataRole.UserRole)
    if isinstance(data, MeasurementRow):
        return measurement_key(data.latest)
    if isinstance(data, NoteThread):
        return f"{data.current.source_type.value}/{data.current.id}"
    return None


def history_rows(thread: NoteThread) -> list[tuple[str, PriorNote]]:
    """The rows under a note: its earlier versions, addenda and other forms, in words."""
    rows = [(f"Earlier version (replaced) — {_when(n)}", n) for n in thread.earlier]
    rows += [(f"Addendum — {_when(n)}", n) for n in thread.addenda]
    rows += [
        (
            "The same note, also held as a "
            + ("Composition" if n.source_type is NoteSourceType.COMPOSITION else "document"),
            n,
        )
        for n in thread.other_forms
    ]
    return rows


class ContextPane(QWidget):
    follow_up_requested = Signal(object, object)  # PriorNote (the current version), FollowUpKind
    note_opened = Signal(object)  # PriorNote

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Chart", ""])
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setAccessibleName("Chart context")
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._menu)
        self.tree.itemDoubleClicked.connect(self._double_clicked)
        layout.addWidget(self.tree)
        self.sections: dict[SectionKind, QTreeWidgetItem] = {}
        for kind in ORDER:
            top = QTreeWidgetItem([kind.title, ""])
            font = QFont(top.font(0))
            font.setBold(True)
            top.setFont(0, font)
            self.tree.addTopLevelItem(top)
            self.sections[kind] = top
        self.show_loading()

    def show_loading(self) -> None:
        self._forget()
        for kind, top in self.sections.items():
            top.takeChildren()
            top.setText(0, f"{kind.title} — loading…")
            top.setText(1, "")

    def show_error(self, message: str) -> None:
        self._forget()
        for kind, top in self.sections.items():
            top.takeChildren()
            top.setText(0, f"{kind.title} — not loaded")
            child = QTreeWidgetItem([message, ""])
            child.setForeground(0, PROBLEM_BRUSH)
            top.addChild(child)
            top.setExpanded(True)

    def _forget(self) -> None:
        self._context: EncounterContext | None = None
        self._threads: tuple[NoteThread, ...] | None = None
        self._histories: dict[SectionKind, SectionHistory] = {}
        self._status: dict[SectionKind, QTreeWidgetItem] = {}  # the history's line, per section

    def show_context(
        self, context: EncounterContext, threads: Sequence[NoteThread] | None = None
    ) -> None:
        """The chart; notes as ``threads`` (default: grouped here, none marked as written
        here). The older items paged in so far for this encounter stay shown."""
        if self._context is None or self._context.encounter.id != context.encounter.id:
            self._histories = {}
        self._context = context
        self._threads = tuple(threads) if threads is not None else None
        for kind in ORDER:
            self._refill(kind)

    def show_threads(self, threads: Sequence[NoteThread]) -> None:
        """The notes as the view-model grouped them (marked where written here)."""
        if self._context is not None:
            self._threads = tuple(threads)
            self._refill(SectionKind.NOTES)

    def show_history(self, history: SectionHistory) -> None:
        """A section's older items, as far as they are loaded: shown under its first view."""
        if self._context is None:
            return
        self._histories[history.kind] = history
        if not self._extend(history):
            self._refill(history.kind)

    def history_words(self, kind: SectionKind) -> str | None:
        history = self._histories.get(kind)
        return history.words if history is not None else None

    def _extend(self, history: SectionHistory) -> bool:
        """Older results added under the rows already shown (a page costs what it adds, not
        the whole section again); False when the rows changed otherwise (a rebuild)."""
        kind, top = history.kind, self.sections[history.kind]
        status = self._status.get(kind)
        if status is None:
            return False
        if kind is SectionKind.NOTES and self._threads is not None:
            _say(status, history)  # the notes' rows came as threads (show_threads)
            return True
        if kind not in (SectionKind.VITALS, SectionKind.LABS):
            return False
        new = [MeasurementRow(*row) for row in results_per_code(history.items)]
        shown = [r for i in range(top.childCount()) if (r := top.child(i)) is not None]
        rows = [r for r in shown if isinstance(r.data(0, Qt.ItemDataRole.UserRole), MeasurementRow)]
        if len(rows) != len(new):
            return False
        for row, fresh in zip(rows, new, strict=True):
            old: MeasurementRow = row.data(0, Qt.ItemDataRole.UserRole)
            if old.latest != fresh.latest or fresh.earlier[: len(old.earlier)] != old.earlier:
                return False
        for row, fresh in zip(rows, new, strict=True):
            old = row.data(0, Qt.ItemDataRole.UserRole)
            row.addChildren([_result_row(m) for m in fresh.earlier[len(old.earlier) :]])
            row.setData(0, Qt.ItemDataRole.UserRole, fresh)
            row.setText(1, _row_detail(fresh))
        _say(status, history)
        return True

    def _refill(self, kind: SectionKind) -> None:
        context = self._context
        assert context is not None
        section = context.section(kind)
        history = self._histories.get(kind)
        items: tuple[object, ...] = history.items if history is not None else section.items
        if kind in (SectionKind.VITALS, SectionKind.LABS):
            items = tuple(MeasurementRow(*row) for row in results_per_code(items))  # type: ignore[arg-type]
        elif kind is SectionKind.NOTES:
            threads = self._threads
            items = threads if threads is not None else tuple(note_threads(items))  # type: ignore[arg-type]
        scroll = self.tree.verticalScrollBar().value()
        self._fill(kind, section, items, history)
        self.tree.verticalScrollBar().setValue(scroll)

    def _fill(
        self,
        kind: SectionKind,
        section: ContextSection[object],
        items: tuple[object, ...],
        history: SectionHistory | None,
    ) -> None:
        top = self.sections[kind]
        rows = [r for i in range(top.childCount()) if (r := top.child(i)) is not None]
        opened = {_row_key(r) for r in rows if r.isExpanded()}
        top.takeChildren()
        count = f" ({len(items)})" if section.ok else ""
        top.setText(0, f"{kind.title}{count}")
        if section.error:
            child = QTreeWidgetItem([section.error, ""])
            child.setForeground(0, PROBLEM_BRUSH)
            top.addChild(child)
        elif not items:
            child = QTreeWidgetItem(["None recorded", ""])
            child.setForeground(0, MUTED)
            top.addChild(child)
        for item in items:
            child = _item_row(item)
            top.addChild(child)
            child.setExpanded(_row_key(child) in opened)
        self._status.pop(kind, None)
        if history is not None:
            brush = PROBLEM_BRUSH if history.problem else MUTED
            self._status[kind] = self._note(top, history.words, brush)
        elif section.truncated:
            self._note(top, f"Showing the newest {len(section.items):,}; the EHR has more.", MUTED)
        for skipped in section.skipped:
            label = f"Skipped {skipped.resource_type}{'/' + skipped.id if skipped.id else ''}"
            child = QTreeWidgetItem([label, ""])
            child.setToolTip(0, skipped.reason)
            child.setText(1, "unreadable")
            child.setForeground(0, PROBLEM_BRUSH)
            top.addChild(child)
        for warning in section.warnings:
            self._note(top, warning, MUTED)
        top.setExpanded(kind is not SectionKind.LABS or len(items) < 8)

    @staticmethod
    def _note(top: QTreeWidgetItem, words: str, brush: QBrush) -> QTreeWidgetItem:
        child = QTreeWidgetItem([words, ""])
        child.setToolTip(0, words)
        child.setForeground(0, brush)
        top.addChild(child)
        return child

    def thread_rows(self) -> list[QTreeWidgetItem]:
        """The note rows (one per note of the chart), in the order shown."""
        top = self.sections[SectionKind.NOTES]
        rows = [r for i in range(top.childCount()) if (r := top.child(i)) is not None]
        return [r for r in rows if isinstance(r.data(0, Qt.ItemDataRole.UserRole), NoteThread)]

    def _data_at(self, item: QTreeWidgetItem | None) -> object:
        return None if item is None else item.data(0, Qt.ItemDataRole.UserRole)

    def _double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        data = self._data_at(item)
        note = data.current if isinstance(data, NoteThread) else data
        if isinstance(note, PriorNote):
            self.note_opened.emit(note)

    def follow_up_menu(self, thread: NoteThread) -> QMenu:
        """The note's menu: the clinician's two choices, in plain words."""
        menu = QMenu(self)
        for kind in FollowUpKind:
            menu.addAction(f"{kind.choice}…", partial(self._follow_up, thread.current, kind))
        return menu

    def _follow_up(self, note: PriorNote, kind: FollowUpKind) -> None:
        self.follow_up_requested.emit(note, kind)

    def _menu(self, pos: QPoint) -> None:
        data = self._data_at(self.tree.itemAt(pos))
        if not isinstance(data, NoteThread):
            return  # earlier versions are history: the current version is followed up
        self.follow_up_menu(data).popup(self.tree.viewport().mapToGlobal(pos))
