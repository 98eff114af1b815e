"""The chart context next to the note: problems, medications, allergies, latest vitals and
labs, prior notes. Each section shows its own loading, error and "skipped" state.

Notes are listed once each (app.domain.note_history): the current version, marked when it was
written from this workstation, with its earlier versions, addenda and other forms one click
away (expand the row). Its menu offers the two follow-ups in plain words: "Correct this
note…" and "Add an addendum…"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QHeaderView, QMenu, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from app.domain.clinical import Allergy, Measurement, Medication, NoteSourceType, PriorNote, Problem
from app.domain.context import ContextSection, EncounterContext, SectionKind
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
        for kind, top in self.sections.items():
            top.takeChildren()
            top.setText(0, f"{kind.title} — loading…")
            top.setText(1, "")

    def show_error(self, message: str) -> None:
        for kind, top in self.sections.items():
            top.takeChildren()
            top.setText(0, f"{kind.title} — not loaded")
            child = QTreeWidgetItem([message, ""])
            child.setForeground(0, PROBLEM_BRUSH)
            top.addChild(child)
            top.setExpanded(True)

    def show_context(
        self, context: EncounterContext, threads: Sequence[NoteThread] | None = None
    ) -> None:
        """The chart; notes as ``threads`` (default: grouped here, none marked as written
        here)."""
        for kind in ORDER:
            section = context.section(kind)
            items: tuple[object, ...] = section.items
            if kind is SectionKind.VITALS:
                items = context.latest_vitals()
            elif kind is SectionKind.LABS:
                items = context.latest_labs()
            elif kind is SectionKind.NOTES:
                items = tuple(threads if threads is not None else note_threads(context.notes.items))
            self._fill(kind, section, items)

    def _fill(
        self, kind: SectionKind, section: ContextSection[object], items: tuple[object, ...]
    ) -> None:
        top = self.sections[kind]
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
            text, detail = describe(item)
            child = QTreeWidgetItem([text, detail])
            child.setToolTip(0, text)
            child.setData(0, Qt.ItemDataRole.UserRole, item)
            top.addChild(child)
            if isinstance(item, NoteThread):
                if item.written_here:
                    child.setForeground(1, WRITTEN_HERE_BRUSH)
                for words, note in history_rows(item):
                    row = QTreeWidgetItem([words, note.doc_status or note.status or ""])
                    row.setData(0, Qt.ItemDataRole.UserRole, note)
                    row.setForeground(0, MUTED)
                    child.addChild(row)
        if section.truncated:
            more = QTreeWidgetItem(["More results exist than were loaded", ""])
            more.setForeground(0, MUTED)
            top.addChild(more)
        for skipped in section.skipped:
            label = f"Skipped {skipped.resource_type}{'/' + skipped.id if skipped.id else ''}"
            child = QTreeWidgetItem([label, ""])
            child.setToolTip(0, skipped.reason)
            child.setText(1, "unreadable")
            child.setForeground(0, PROBLEM_BRUSH)
            top.addChild(child)
        for warning in section.warnings:
            child = QTreeWidgetItem([warning, ""])
            child.setForeground(0, MUTED)
            top.addChild(child)
        top.setExpanded(kind is not SectionKind.LABS or len(items) < 8)

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
