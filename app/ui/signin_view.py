"""Sign-in page: pick the EHR, sign in through the browser, see progress, cancel, read errors."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
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
from app.ui.signin_model import SignInViewModel
from app.ui.style import error_label, heading_label, hint_label


class SignInView(QWidget):
    sign_in_requested = Signal(object)  # Site

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

        self.site_list = self._site_list(card)
        layout.addWidget(self.site_list)

        buttons = QHBoxLayout()
        self.sign_in_button = QPushButton("Sign in")
        self.sign_in_button.setDefault(True)
        self.sign_in_button.clicked.connect(self._request)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(model.cancel)
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

        self.link_box = self._link_box(card)
        layout.addWidget(self.link_box)

        self.error_label = error_label("")
        self.error_label.hide()
        layout.addWidget(self.error_label)
        self.warning_label = hint_label("")
        self.warning_label.setObjectName("warningText")
        self.warning_label.hide()
        layout.addWidget(self.warning_label)

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

    def _site_list(self, parent: QWidget) -> QListWidget:
        sites = QListWidget(parent)
        sites.setAccessibleName("EHR sites")
        for site in self.model.sites:
            item = QListWidgetItem(f"{site.display_name}\n{site.fhir_base}")
            item.setData(Qt.ItemDataRole.UserRole, site)
            sites.addItem(item)
        if self.model.sites:
            sites.setCurrentRow(0)
        sites.setMaximumHeight(120)
        sites.itemDoubleClicked.connect(lambda _item: self._request())
        return sites

    def _link_box(self, parent: QWidget) -> QWidget:
        """The sign-in link to copy, for when the browser did not open."""
        link_row = QHBoxLayout()
        self.link_edit = QLineEdit(parent)
        self.link_edit.setReadOnly(True)
        self.link_edit.setAccessibleName("Sign-in link")
        self.copy_button = QPushButton("Copy link")
        self.copy_button.clicked.connect(
            lambda: QGuiApplication.clipboard().setText(self.link_edit.text())
        )
        link_row.addWidget(self.link_edit)
        link_row.addWidget(self.copy_button)
        box = QWidget(parent)
        box.setLayout(link_row)
        box.hide()
        return box

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

    def _set_busy(self, busy: bool) -> None:
        self.sign_in_button.setEnabled(not busy)
        self.site_list.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.busy_bar.setVisible(busy)
        if not busy:
            self.link_box.hide()

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    def _show_link(self, url: str) -> None:
        self.link_edit.setText(url)
        self.link_box.show()

    def _show_warnings(self, lines: list[str]) -> None:
        self.warning_label.setText("\n".join(f"• {line[0].upper()}{line[1:]}." for line in lines))
        self.warning_label.setVisible(bool(lines))
