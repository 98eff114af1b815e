"""The agreement panel under the note editor: where the note's text and its recorded values
disagree (each with its one-click fixes), and the passages an imported draft's generator was
unsure about (each stays listed, marked, until the clinician has looked at it).

A view: it renders what the view-model found (``app.domain.consistency``) and forwards the
clinician's choices as signals; the view-model applies them to the draft.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.domain.consistency import Fix, Mismatch
from app.domain.draft import DraftProvenance, FlagLook, FlagTarget, UncertaintyFlag


def _label(text: str, name: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)  # note text is never markup
    if name:
        label.setObjectName(name)
    return label


def flag_words(flag: UncertaintyFlag, section_titles: dict[str, str]) -> str:
    where = {
        FlagTarget.DRAFT: "The whole draft",
        FlagTarget.SECTION: section_titles.get(flag.target, flag.target),
        FlagTarget.ITEM: f"Item {flag.target}",
    }[flag.target_kind]
    quote = f" — “{flag.quote}”" if flag.quote else ""
    return f"{where}: {flag.reason}{quote}"


class AgreementPanel(QFrame):
    fix_requested = Signal(object, object)  # Mismatch, Fix
    flag_looked_at = Signal(int)  # index of the uncertainty flag

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("agreementPanel")
        self.setAccessibleName("Agreement of the note's text and its recorded values")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 4, 0, 4)
        self.fix_buttons: dict[tuple[str, Fix], QPushButton] = {}
        self.look_buttons: dict[int, QPushButton] = {}
        self.hide()

    def show_state(
        self,
        mismatches: Sequence[Mismatch],
        provenance: DraftProvenance | None,
        section_titles: dict[str, str],
        editable: bool,
    ) -> None:
        self._clear()
        if mismatches:
            self._layout.addWidget(
                _label(
                    "The note's text and its recorded values disagree. Fix each, or confirm "
                    "it when you approve:",
                    "sectionTitle",
                )
            )
            for mismatch in mismatches:
                self._mismatch_row(mismatch, editable)
        flags = provenance.uncertainty if provenance is not None else ()
        if flags and provenance is not None:
            looked = {look.index: look for look in provenance.looked_at}
            gen = provenance.generator
            source = f"{gen.name} {gen.version}" if gen else "the generator"
            waiting = len(flags) - len(provenance.looked_at_flags)
            self._layout.addWidget(
                _label(
                    f"Uncertain passages: {source} was unsure about {len(flags)} "
                    f"passage{'s' * (len(flags) != 1)}"
                    + (f"; {waiting} not looked at yet" if waiting else "; each looked at"),
                    "sectionTitle",
                )
            )
            for index, flag in enumerate(flags):
                self._flag_row(index, flag, looked.get(index), section_titles, editable)
        self.setVisible(bool(mismatches or flags))

    def _mismatch_row(self, mismatch: Mismatch, editable: bool) -> None:
        row = QWidget(self)
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(_label(f"⚠ {mismatch.message}", "warningText"), 1)
        for option in mismatch.fixes:
            button = QPushButton(option.label, row)
            button.setEnabled(editable)
            button.clicked.connect(
                lambda _=False, m=mismatch, f=option.fix: self.fix_requested.emit(m, f)
            )
            line.addWidget(button)
            self.fix_buttons[(mismatch.key, option.fix)] = button
        self._layout.addWidget(row)

    def _flag_row(
        self,
        index: int,
        flag: UncertaintyFlag,
        look: FlagLook | None,
        titles: dict[str, str],
        editable: bool,
    ) -> None:
        row = QWidget(self)
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        style = "hint" if look is not None else "warningText"
        line.addWidget(_label(("✓ " if look else "? ") + flag_words(flag, titles), style), 1)
        if look is None:
            button = QPushButton("I have looked at it", row)
            button.setEnabled(editable)
            button.clicked.connect(lambda _=False, i=index: self.flag_looked_at.emit(i))
            line.addWidget(button)
            self.look_buttons[index] = button
        else:
            when = look.at.astimezone().strftime("%d %b %H:%M")
            line.addWidget(_label(f"looked at {when}", "hint"))
        self._layout.addWidget(row)

    def _clear(self) -> None:
        self.fix_buttons = {}
        self.look_buttons = {}
        while self._layout.count():
            child = self._layout.takeAt(0)
            widget = child.widget() if child is not None else None
            if widget is not None:
                widget.deleteLater()
