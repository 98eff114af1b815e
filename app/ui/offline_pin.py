"""Tools ▸ Offline PIN…: set the app PIN that unlocks this computer for an offline start
(docs/offline.md). A small dialog, opened with ``open()`` (never ``exec()``); the PIN goes to
``SessionService.set_offline_pin`` (its salted verifier in the OS account's keyring)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtWidgets import QDialog, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout, QWidget

from app.domain.offline_unlock import pin_problem
from app.services.errors import ServiceError
from app.services.session import SessionService
from app.ui.style import error_label, heading_label, hint_label

Starter = Callable[[str, Coroutine[Any, Any, Any]], object]


class OfflinePinDialog(QDialog):
    def __init__(self, session: SessionService, start: Starter, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self._start = start
        self.setWindowTitle("Offline PIN")
        layout = QVBoxLayout(self)
        layout.addWidget(heading_label("Work offline on this computer"))
        hours = session.site.offline.unlock_window.total_seconds() / 3600
        layout.addWidget(
            hint_label(
                "If the EHR cannot be reached when the app starts, this PIN opens the charts "
                f"kept here, for {hours:g} hours after your last sign-in on this computer. "
                "6 to 12 digits; it never leaves this computer."
            )
        )
        self.pin_edit = self._pin_field("New offline PIN", layout)
        self.again_edit = self._pin_field("The same PIN again", layout)
        self.problem_label = error_label("")
        self.problem_label.hide()
        layout.addWidget(self.problem_label)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(self.reject)
        self.save_button = QPushButton("Set PIN")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(cancel)
        buttons.addWidget(self.save_button)
        layout.addLayout(buttons)

    def _pin_field(self, name: str, layout: QVBoxLayout) -> QLineEdit:
        edit = QLineEdit(self)
        edit.setEchoMode(QLineEdit.EchoMode.Password)
        edit.setAccessibleName(name)
        edit.setPlaceholderText(name)
        layout.addWidget(edit)
        return edit

    def save(self) -> None:
        pin = self.pin_edit.text()
        problem = pin_problem(pin)
        if problem is None and pin != self.again_edit.text():
            problem = "The two PINs are not the same."
        if problem is not None:
            self._show(problem)
            return
        self._start("offline-pin", self._save(pin))

    async def _save(self, pin: str) -> None:
        try:
            await self.session.set_offline_pin(pin)
        except ServiceError as exc:
            self._show(exc.words)
            return
        self.accept()

    def _show(self, text: str) -> None:
        self.problem_label.setText(text)
        self.problem_label.setVisible(bool(text))
