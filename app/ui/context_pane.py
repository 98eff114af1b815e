"""The chart context next to the note: problems, medications, allergies, latest vitals and
labs, prior notes. Each section shows its own loading, error and "skipped" state."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QHeaderView, QMenu, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from app.domain.clinical import Allergy, Measurement, Medication, PriorNote, Problem
from app.domain.context import ContextSection, EncounterContext, SectionKind

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
        return f"{item.display}: {item.display_value}", when
    if isinstance(item, PriorNote):
        when = item.date.astimezone().date().isoformat() if item.date else "undated"
        status = item.doc_status or item.status or ""
        return f"{item.type_display} — {when}", status
    return str(item), ""


class ContextPane(QWidget):
    amend_requested = Signal(object)  # PriorNote
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

    def show_context(self, context: EncounterContext) -> None:
        for kind in ORDER:
            section = context.section(kind)
            items: tuple[object, ...] = section.items
            if kind is SectionKind.VITALS:
                items = context.latest_vitals()
            elif kind is SectionKind.LABS:
                items = context.latest_labs()
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

    def _note_at(self, item: QTreeWidgetItem | None) -> PriorNote | None:
        if item is None:
            return None
        data = item.data(0, Qt.ItemDataRole.UserRole)
        return data if isinstance(data, PriorNote) else None

    def _double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        note = self._note_at(item)
        if note is not None:
            self.note_opened.emit(note)

    def _menu(self, pos: QPoint) -> None:
        note = self._note_at(self.tree.itemAt(pos))
        if note is None:
            return
        menu = QMenu(self)
        menu.addAction("Amend this note…", lambda: self.amend_requested.emit(note))
        menu.exec(self.tree.viewport().mapToGlobal(pos))
