"""Every keyboard shortcut, declared once: menus, tooltips and Help › Keyboard shortcuts read
this table, so what the app says is what the keys do.

Chosen to sit beside the EHR note writers clinicians know (Epic's F2 for the next ``***``,
Ctrl+Enter to finish) without taking keys a text field needs (Ctrl+Z, Ctrl+arrows, Home/End).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.style import heading_label


@dataclass(frozen=True)
class Shortcut:
    name: str
    words: str  # the menu entry: "Review and approve…"
    keys: tuple[str, ...]  # portable QKeySequence texts; the first is the one shown
    where: str  # "Note", "Review", "Outbox", "Everywhere"

    @property
    def shown(self) -> str:
        return QKeySequence(self.keys[0]).toString(QKeySequence.SequenceFormat.NativeText)


SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("review", "Review and approve…", ("Ctrl+Return", "Ctrl+Enter"), "Note"),
    Shortcut("approve", "Approve and queue (in the review)", ("Ctrl+Shift+Return", "Ctrl+Shift+Enter"), "Review"),
    Shortcut("next-blank", "Next blank (***) or empty section", ("F2",), "Note"),
    Shortcut("previous-blank", "Previous blank (***)", ("Shift+F2",), "Note"),
    Shortcut("next-section", "Next section", ("Ctrl+PgDown",), "Note"),
    Shortcut("previous-section", "Previous section", ("Ctrl+PgUp",), "Note"),
    Shortcut("add-observation", "Add observation", ("Ctrl+Shift+O",), "Note"),
    Shortcut("add-task", "Add follow-up task", ("Ctrl+Shift+T",), "Note"),
    Shortcut("add-message", "Add message to the care team", ("Ctrl+Shift+M",), "Note"),
    Shortcut("save", "Save the draft now", ("Ctrl+S",), "Note"),
    Shortcut("change-patient", "Change patient…", ("Ctrl+Shift+P",), "Note"),
    # wired by the changes view itself (app/ui/diff_view.py), listed here for Help
    Shortcut("next-change", "Next change", ("Alt+Down", "F8"), "Changes"),
    Shortcut("previous-change", "Previous change", ("Alt+Up", "Shift+F8"), "Changes"),
    Shortcut("outbox", "Outbox", ("Ctrl+Shift+B",), "Everywhere"),
    Shortcut("sync", "Send waiting notes now", ("F9",), "Everywhere"),  # Outlook's Send/Receive
    Shortcut("worklist", "Back to the worklist", ("Ctrl+Shift+W",), "Everywhere"),
    # wired by the worklist page itself (app/ui/worklist_view.py)
    Shortcut("worklist-refresh", "Read the day again", ("F5",), "Worklist"),
    Shortcut("worklist-previous-day", "Previous day", ("Alt+Left",), "Worklist"),
    Shortcut("worklist-next-day", "Next day", ("Alt+Right",), "Worklist"),
    Shortcut("worklist-today", "Today", ("Alt+Home",), "Worklist"),
    Shortcut("worklist-open", "Open the visit's chart", ("Return", "Enter"), "Worklist"),
    # wired by the sign-in page itself (app/ui/signin_view.py)
    Shortcut("cancel-sign-in", "Cancel the sign-in", ("Esc",), "Sign-in"),
    Shortcut("shortcuts", "Keyboard shortcuts", ("Ctrl+/", "F1"), "Everywhere"),
    Shortcut("quit", "Quit", ("Ctrl+Q",), "Everywhere"),
)  # fmt: skip

# Keys that are not commands but matter as much: shown in the help too.
KEYS_IN_FIELDS: tuple[tuple[str, str], ...] = (
    ("Tab / Shift+Tab", "Next / previous field or section"),
    ("Ctrl+Tab", "Type a tab character in a section"),
    ("Type part of a name", "Offers matches: hr, bp, a1c, sats, temp; a person's name"),
    ("Down / Up, Enter", "Choose a match; Enter accepts a cell and moves to the next"),
    ("Escape", "Leave a cell without changing it"),
)

_BY_NAME = {s.name: s for s in SHORTCUTS}


def shortcut(name: str) -> Shortcut:
    return _BY_NAME[name]


def tooltip(name: str, words: str | None = None) -> str:
    """ "Review and approve the note (Ctrl+Return)": a tooltip that teaches the key."""
    found = _BY_NAME[name]
    return f"{words or found.words.rstrip('…')} ({found.shown})"


def make_action(parent: QWidget, name: str, slot: Callable[[], object]) -> QAction:
    """A window-wide action for shortcut ``name``: its words, its keys, its tooltip."""
    found = _BY_NAME[name]
    action = QAction(found.words, parent)
    action.setShortcuts([QKeySequence(k) for k in found.keys])
    action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    action.setToolTip(tooltip(name))
    action.triggered.connect(lambda _checked=False: slot())
    parent.addAction(action)
    return action


class ShortcutsDialog(QDialog):
    """Help › Keyboard shortcuts: the table above, as a list to read."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(760, 560)
        layout = QVBoxLayout(self)
        layout.addWidget(heading_label("Keyboard shortcuts"))
        rows = [
            (
                s.where,
                s.words.rstrip("…"),
                " or ".join(
                    QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) for k in s.keys
                ),
            )
            for s in SHORTCUTS
        ]
        rows += [("In fields", words, keys) for keys, words in KEYS_IN_FIELDS]
        self.table = QTableWidget(len(rows), 3, self)
        self.table.setHorizontalHeaderLabels(["Where", "What", "Keys"])
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                cell = QTableWidgetItem(text)
                cell.setFlags(cell.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.table.setItem(r, c, cell)
        # the keys are read whole ("Ctrl+Shift+Return or Ctrl+Shift+Enter"), never elided
        header = self.table.horizontalHeader()
        for column in (0, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        layout.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
