"""The diff pane: what the clinician changed against the baseline, inline or side by side.

Above the two tabs: "Ignore white space", and Previous / Next change (also Alt+Up / Alt+Down
and F8 / Shift+F8) with "Change 2 of 5". Collapsed stretches open with their "(show)" link.
The rich text is made by :mod:`app.ui.diff_html`; this widget only renders and forwards.
"""

from __future__ import annotations

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.domain.diff import DraftDiff
from app.ui.diff_html import SHOW, DiffOptions, inline_html, side_by_side_html

__all__ = ["DiffView", "inline_html", "side_by_side_html"]


class DiffView(QWidget):
    change_shown = Signal(int, int)  # index (0-based) of the change shown, number of changes

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.ignore_whitespace = QCheckBox("Ignore white space", self)
        self.ignore_whitespace.setToolTip(
            "Hide changes of white space only (re-wrapped lines, tabs, trailing line breaks)."
        )
        self.previous_button = QPushButton("Previous change", self)
        self.next_button = QPushButton("Next change", self)
        self.previous_button.setToolTip("Previous change (Alt+Up, Shift+F8)")
        self.next_button.setToolTip("Next change (Alt+Down, F8)")
        self.position = QLabel("", self)
        for widget in (self.ignore_whitespace, self.previous_button, self.next_button):
            bar.addWidget(widget)
        bar.addWidget(self.position)
        bar.addStretch(1)
        layout.addLayout(bar)
        self.tabs = QTabWidget(self)
        self.side_by_side = QTextBrowser(self)
        self.inline = QTextBrowser(self)
        for browser in (self.side_by_side, self.inline):
            browser.setOpenLinks(False)
            browser.setOpenExternalLinks(False)
            browser.anchorClicked.connect(self._link)
        self.tabs.addTab(self.side_by_side, "Side by side")
        self.tabs.addTab(self.inline, "Inline")
        layout.addWidget(self.tabs)
        self.options = DiffOptions()
        self._diff: DraftDiff | None = None
        self._rendered: set[int] = set()
        self._counts: dict[int, int] = {}
        self._current = -1
        self.tabs.currentChanged.connect(self._tab_changed)
        self.ignore_whitespace.toggled.connect(self._set_ignore_whitespace)
        self.previous_button.clicked.connect(self.previous_change)
        self.next_button.clicked.connect(self.next_change)
        for keys, slot in (
            ("Alt+Down", self.next_change),
            ("F8", self.next_change),
            ("Alt+Up", self.previous_change),
            ("Shift+F8", self.previous_change),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.activated.connect(slot)
        self._update_position()

    # ------------------------------------------------------------------ showing
    def show_diff(self, diff: DraftDiff) -> None:
        # Only the visible tab is rendered now; the other on switch (keeps typing smooth).
        self._diff = diff
        self._rerender()

    def _rerender(self) -> None:
        self._rendered = set()
        self._counts = {}
        self._current = -1
        self._render(self.tabs.currentIndex())

    def _render(self, index: int) -> None:
        if index in self._rendered or self._diff is None:
            return
        self._rendered.add(index)
        if index == 0:
            html = side_by_side_html(self._diff, self.options)
            self.side_by_side.setHtml(html)
        else:
            html = inline_html(self._diff, self.options)
            self.inline.setHtml(html)
        self._counts[index] = html.count('<a name="change-')
        self._update_position()

    def _tab_changed(self, index: int) -> None:
        self._current = -1
        self._render(index)
        self._update_position()

    def _set_ignore_whitespace(self, on: bool) -> None:
        self.options.ignore_whitespace = on
        self._rerender()

    def _link(self, url: QUrl) -> None:
        target = url.toString()
        if target.startswith(SHOW):
            self.options.expanded.add(target.removeprefix(SHOW))
            self._rerender()

    # ------------------------------------------------------------------ navigating
    @property
    def change_count(self) -> int:
        return self._counts.get(self.tabs.currentIndex(), 0)

    def next_change(self) -> None:
        self._go(self._current + 1)

    def previous_change(self) -> None:
        self._go(self._current - 1 if self._current > 0 else 0)

    def _go(self, index: int) -> None:
        count = self.change_count
        if not count:
            return
        self._current = max(0, min(index, count - 1))
        browser = self.side_by_side if self.tabs.currentIndex() == 0 else self.inline
        browser.scrollToAnchor(f"change-{self._current}")
        self._update_position()
        self.change_shown.emit(self._current, count)

    def _update_position(self) -> None:
        count = self.change_count
        if not count:
            self.position.setText("No changes" if self._diff is not None else "")
        elif self._current < 0:
            self.position.setText(f"{count} change{'s' * (count != 1)}")
        else:
            self.position.setText(f"Change {self._current + 1} of {count}")
        self.previous_button.setEnabled(count > 0 and self._current > 0)
        self.next_button.setEnabled(count > 0 and self._current < count - 1)
