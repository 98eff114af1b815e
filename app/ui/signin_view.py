"""Sign-in page: pick the EHR, sign in through the browser, see progress, cancel, read errors."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.domain.site import Site
from app.ui.shortcuts import shortcut, tooltip
from app.ui.signin_model import SignInViewModel
from app.ui.style import error_label, heading_label, hint_label


class SignInView(QWidget):
    sign_in_requested = Signal(object)  # Site
    work_offline_requested = Signal(object, str)  # Site, the app PIN

    def __init__(self, model: SignInViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        card = QFrame(self)
        card.setObjectName("signInCard")
        card.setFrameShape(QFrame.Shape.StyledPanel)
        card.setMaximumWidth(640)
        layout = QVBoxLayout(card)
        layout.addWidget(heading_label("Sign in to your EHR"))
        layout.addWidget(
            hint_label(
                "Choose where to sign in. Your EHR's sign-in page opens in your web browser; "
                "come back here when it says you are signed in."
            )
        )

        self.site_list = QListWidget(card)
        self.site_list.setAccessibleName("EHR sites")
        for site in model.sites:
            item = QListWidgetItem(f"{site.display_name}\n{site.fhir_base}")
            item.setData(Qt.ItemDataRole.UserRole, site)
            self.site_list.addItem(item)
        if model.sites:
            self.site_list.setCurrentRow(0)
        self.site_list.setMaximumHeight(120)
        # Enter on the chosen EHR signs in (a double click does too)
        self.site_list.itemActivated.connect(lambda _item: self._request())
        layout.addWidget(self.site_list)
        self.site_list.currentItemChanged.connect(
            lambda *_: model.show_waiting(self.selected_site())
        )

        buttons = QHBoxLayout()
        self.sign_in_button = QPushButton("Sign in")
        self.sign_in_button.setDefault(True)
        self.sign_in_button.clicked.connect(self._request)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(model.cancel)
        self.cancel_button.setToolTip(tooltip("cancel-sign-in"))
        for key in shortcut("cancel-sign-in").keys:  # Esc while the browser is waited for
            cancel_key = QShortcut(QKeySequence(key), self)
            cancel_key.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            cancel_key.activated.connect(self._cancel_by_key)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.sign_in_button)
        layout.addLayout(buttons)

        self.busy_bar = QProgressBar(card)
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setMaximumHeight(6)
        self.busy_bar.hide()
        layout.addWidget(self.busy_bar)
        self.progress_label = hint_label("")
        layout.addWidget(self.progress_label)

        self._build_offline(card, layout)
        self._build_messages(card, layout)

        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card, 3)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)

        model.busy_changed.connect(self._set_busy)
        model.progress.connect(self.progress_label.setText)
        model.error.connect(self._show_error)
        model.link_available.connect(self._show_link)
        model.warnings.connect(self._show_warnings)
        model.waiting_changed.connect(self._show_waiting)

    def _build_offline(self, card: QFrame, layout: QVBoxLayout) -> None:
        """Shown when the EHR cannot be reached and an offline start is set up here."""
        self.offline_box = QWidget(card)
        box = QVBoxLayout(self.offline_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(
            hint_label(
                "The EHR cannot be reached. You signed in on this computer recently: type your "
                "offline PIN to work on the charts kept here. Notes you approve are sent when "
                "the EHR is back."
            )
        )
        row = QHBoxLayout()
        self.pin_edit = QLineEdit(card)
        self.pin_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin_edit.setAccessibleName("Offline PIN")
        self.pin_edit.setPlaceholderText("Offline PIN")
        self.pin_edit.returnPressed.connect(self._request_offline)
        self.work_offline_button = QPushButton("Work offline")
        self.work_offline_button.clicked.connect(self._request_offline)
        row.addWidget(self.pin_edit)
        row.addWidget(self.work_offline_button)
        box.addLayout(row)
        self.offline_box.hide()
        layout.addWidget(self.offline_box)
        self.model.offline_offered.connect(self._offer_offline)

    def _offer_offline(self, offered: bool) -> None:
        self.offline_box.setVisible(offered)
        self.pin_edit.clear()
        if offered:
            self.pin_edit.setFocus()

    def _request_offline(self) -> None:
        site = self.selected_site()
        pin = self.pin_edit.text()
        self.pin_edit.clear()
        if site is not None and pin and not self.model.busy:
            self.work_offline_requested.emit(site, pin)

    def _build_messages(self, card: QFrame, layout: QVBoxLayout) -> None:
        """Under the buttons: the sign-in link (when no browser opened), the notes waiting
        to be sent, errors and warnings."""
        link_row = QHBoxLayout()
        self.link_edit = QLineEdit(card)
        self.link_edit.setReadOnly(True)
        self.link_edit.setAccessibleName("Sign-in link")
        self.copy_button = QPushButton("Copy link")
        self.copy_button.clicked.connect(
            lambda: QGuiApplication.clipboard().setText(self.link_edit.text())
        )
        link_row.addWidget(self.link_edit)
        link_row.addWidget(self.copy_button)
        self.link_box = QWidget(card)
        self.link_box.setLayout(link_row)
        self.link_box.hide()
        layout.addWidget(self.link_box)

        self.waiting_label = hint_label("")
        self.waiting_label.setObjectName("waitingText")
        self.waiting_label.setAccessibleName("Notes waiting to be sent")
        self.waiting_label.hide()
        layout.addWidget(self.waiting_label)

        self.error_label = error_label("")
        self.error_label.hide()
        layout.addWidget(self.error_label)
        self.warning_label = hint_label("")
        self.warning_label.setObjectName("warningText")
        self.warning_label.hide()
        layout.addWidget(self.warning_label)

    def selected_site(self) -> Site | None:
        item = self.site_list.currentItem()
        if item is None:
            return None
        site = item.data(Qt.ItemDataRole.UserRole)
        return site if isinstance(site, Site) else None

    def _request(self) -> None:
        site = self.selected_site()
        if site is not None and not self.model.busy:
            self.sign_in_requested.emit(site)

    def _cancel_by_key(self) -> None:
        if self.cancel_button.isEnabled():
            self.cancel_button.click()

    def _set_busy(self, busy: bool) -> None:
        # the keyboard stays on the page: the list it was on is disabled while busy
        had_cancel = self.cancel_button.hasFocus()
        self.sign_in_button.setEnabled(not busy)
        self.site_list.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.busy_bar.setVisible(busy)
        if busy and self.isVisible():
            self.cancel_button.setFocus()
        if not busy:
            self.link_box.hide()
            if had_cancel and self.isVisible():
                self.site_list.setFocus()

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    def _show_link(self, url: str) -> None:
        self.link_edit.setText(url)
        self.link_box.show()

    def _show_warnings(self, lines: list[str]) -> None:
        shown = [line.rstrip(".") for line in lines if line]
        self.warning_label.setText("\n".join(f"• {line[0].upper()}{line[1:]}." for line in shown))
        self.warning_label.setVisible(bool(shown))

    def _show_waiting(self, text: str) -> None:
        self.waiting_label.setText(text)
        self.waiting_label.setVisible(bool(text))
