"""Not approving: the dialog that declines an imported draft or discards one's own, with a
reason. It collects the choice; the view-model records the decision (who, when, why,
fingerprint) through the draft service. Opened with ``open()``, never ``exec()``."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QPlainTextEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.domain.draft import CloseReason
from app.domain.draft_decision import MAX_NOTE_CHARS
from app.ui.style import heading_label, hint_label

# The reasons offered for each decision, in this order.
DECLINE_REASONS = (
    CloseReason.INACCURATE,
    CloseReason.WRONG_PATIENT,
    CloseReason.DUPLICATE,
    CloseReason.NOT_NEEDED,
    CloseReason.OTHER,
)
DISCARD_REASONS = (
    CloseReason.STARTED_OVER,
    CloseReason.DUPLICATE,
    CloseReason.NOT_NEEDED,
    CloseReason.WRONG_PATIENT,
    CloseReason.OTHER,
)


class CloseDraftDialog(QDialog):
    """``accepted`` means: record this decision with :meth:`reason` and :meth:`note`."""

    def __init__(self, declining: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        verb = "Decline" if declining else "Discard"
        self.setWindowTitle(f"{verb} this draft")
        self.setModal(True)
        layout = QVBoxLayout(self)
        what = "this imported draft" if declining else "this draft"
        layout.addWidget(heading_label(f"{verb} {what}?"))
        layout.addWidget(
            hint_label(
                "Nothing is sent to the chart. The draft is kept, read-only, and your name, the "
                "time and the reason are recorded (also in the audit log). This cannot be undone."
            )
        )
        self.choices = QButtonGroup(self)
        self.buttons_by_reason: dict[CloseReason, QRadioButton] = {}
        for reason in DECLINE_REASONS if declining else DISCARD_REASONS:
            button = QRadioButton(reason.words, self)
            self.choices.addButton(button)
            self.buttons_by_reason[reason] = button
            layout.addWidget(button)
        self.note_edit = QPlainTextEdit(self)
        self.note_edit.setPlaceholderText(
            f"In your own words (required for another reason; at most {MAX_NOTE_CHARS} characters)"
        )
        self.note_edit.setFixedHeight(70)
        self.note_edit.setTabChangesFocus(True)
        layout.addWidget(self.note_edit)
        self.buttons = QDialogButtonBox(self)
        self.confirm_button = self.buttons.addButton(
            f"{verb} draft", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.choices.buttonToggled.connect(self._update)
        self.note_edit.textChanged.connect(self._update)
        self._update()

    def reason(self) -> CloseReason | None:
        return next((r for r, b in self.buttons_by_reason.items() if b.isChecked()), None)

    def note(self) -> str:
        return " ".join(self.note_edit.toPlainText().split())

    def _update(self, *_: object) -> None:
        reason = self.reason()
        note = self.note()
        ok = reason is not None and len(note) <= MAX_NOTE_CHARS
        if reason is CloseReason.OTHER:
            ok = ok and bool(note)
        self.confirm_button.setEnabled(ok)
