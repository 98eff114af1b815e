"""The outbox panel: every commit with its state in plain words, its detail, and the actions.

Actions are the clinician's, and each goes through the site's ``OutboxService``, which records
who did what and runs the write on the store thread: "Retry now" (then "Sync now"), "Send
again…" for an outcome the app could not check (after a confirmation), "Discard…" (a dialog that
requires a typed reason; only its accept discards), and "Sync now". Dialogs are opened with
``open()`` and answer through signals; actions run as tracked tasks: nothing here blocks the
event loop.

The panel reads the outbox through the service; change notifications (from any thread) are
coalesced with a short timer, so a burst of 1,000 changes costs one re-read of the rows on
screen.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Coroutine
from typing import Any
from uuid import UUID

from PySide6.QtCore import QItemSelection, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.domain.errors import words_for
from app.domain.outbox import UNKNOWN_STATES, OutboxState, SyncEvent, allowed_events
from app.services.errors import ServiceError
from app.services.outbox import OutboxChange, OutboxRow, OutboxService, OutboxSummary
from app.ui.outbox_detail import OutboxDetailView
from app.ui.outbox_model import OutboxTableModel
from app.ui.outbox_table import OutboxTable
from app.ui.outbox_words import state_words
from app.ui.shortcuts import tooltip
from app.ui.style import error_label, heading_label, hint_label
from app.ui.sync_status import SyncStatusModel
from app.ui.tasks import TaskTracker

__all__ = ["FILTERS", "ConfirmDialog", "OutboxPanel", "OutboxTableModel"]

log = logging.getLogger(__name__)
S = OutboxState
COALESCE_MS = 150

# filter key -> (label, states shown; None = all)
FILTERS: dict[str, tuple[str, tuple[OutboxState, ...] | None]] = {
    "all": ("All", None),
    "action": ("Needs action", (S.NEEDS_ATTENTION, S.CONFLICT, S.PAUSED_FOR_SIGN_IN)),
    "pending": (
        "Pending",
        (
            S.WAITING_FOR_BASE,
            S.QUEUED,
            S.SENDING,
            S.RETRY_WAIT,
            S.UNKNOWN_OUTCOME,
            S.CHECK_PAUSED_FOR_SIGN_IN,
            S.PARKED,
        ),
    ),
    "confirmed": ("Confirmed", (S.CONFIRMED,)),
}
_RETRYABLE = frozenset(
    {
        S.RETRY_WAIT,
        S.UNKNOWN_OUTCOME,
        S.CHECK_PAUSED_FOR_SIGN_IN,
        S.PARKED,
        S.NEEDS_ATTENTION,
        S.CONFLICT,
    }
)
# An unknown outcome: "Retry" checks again, "Discard" warns that it may be in the chart.
_UNKNOWN = UNKNOWN_STATES
# The app cannot check by itself: the clinician may send again after looking in the chart.
_RESENDABLE = frozenset({S.CHECK_PAUSED_FOR_SIGN_IN, S.PARKED})


class ConfirmDialog(QDialog):
    """Asks before an action that cannot be undone. The confirm button stays disabled until a
    reason is typed (when one is asked for) and the check box is ticked (when there is one)."""

    def __init__(
        self,
        title: str,
        message: str,
        confirm_text: str,
        *,
        warning: str = "",
        reason_label: str | None = None,
        check_text: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(True)
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        layout.addWidget(heading_label(title))
        layout.addWidget(hint_label(message))
        if warning:
            layout.addWidget(error_label(warning))
        self.reason_edit: QPlainTextEdit | None = None
        if reason_label is not None:
            prompt = QLabel(reason_label)
            prompt.setTextFormat(Qt.TextFormat.PlainText)
            layout.addWidget(prompt)
            self.reason_edit = QPlainTextEdit()
            self.reason_edit.setPlaceholderText("Type the reason (required)")
            self.reason_edit.setFixedHeight(80)
            self.reason_edit.setTabChangesFocus(True)
            self.reason_edit.textChanged.connect(self._update)
            layout.addWidget(self.reason_edit)
        self.check: QCheckBox | None = None
        if check_text is not None:
            self.check = QCheckBox(check_text)
            self.check.toggled.connect(self._update)
            layout.addWidget(self.check)
        buttons = QDialogButtonBox()
        self.cancel_button = buttons.addButton("Keep it", QDialogButtonBox.ButtonRole.RejectRole)
        self.confirm_button = buttons.addButton(
            confirm_text, QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.cancel_button.setDefault(True)
        self.confirm_button.setAutoDefault(False)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._update()

    def reason(self) -> str:
        return "" if self.reason_edit is None else self.reason_edit.toPlainText().strip()

    def ready(self) -> bool:
        has_reason = self.reason_edit is None or bool(self.reason())
        checked = self.check is None or self.check.isChecked()
        return has_reason and checked

    def _update(self) -> None:
        self.confirm_button.setEnabled(self.ready())

    def accept(self) -> None:
        if self.ready():  # Enter in a field must not get around the requirement
            super().accept()


class _Bridge(QObject):
    store_changed = Signal()
    in_flight_changed = Signal()  # the runner's turns: repaint, do not count as a change


class OutboxPanel(QWidget):
    """The outbox of one site. ``status`` (the status bar's model, optional) shares its
    summary for the filter counts; ``tasks`` runs the actions (the window's tracker)."""

    def __init__(
        self,
        outbox: OutboxService,
        tasks: TaskTracker | None = None,
        *,
        status: SyncStatusModel | None = None,
        coalesce_ms: int = COALESCE_MS,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.outbox = outbox
        self.tasks = tasks or TaskTracker()
        self._status = status
        self.refreshes = 0  # how often the rows were re-read (coalescing is tested with it)
        self.dialog: ConfirmDialog | None = None
        self._pending_changes = 0

        self.model = OutboxTableModel(outbox, parent=self)
        self._build()
        if status is not None and status.summary is not None:
            # the status model reads the summary anyway: share it instead of asking twice
            self._show_counts(status.summary)
            status.summary_updated.connect(self._show_counts)
        else:
            self._update_counts()

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(coalesce_ms)
        self._timer.timeout.connect(self.refresh)
        self._turn_timer = QTimer(self)  # the runner's turns: repainted, the store not read
        self._turn_timer.setSingleShot(True)
        self._turn_timer.setInterval(coalesce_ms)
        self._turn_timer.timeout.connect(self._show_turns)
        self._bridge = _Bridge(self)
        self._bridge.store_changed.connect(self._schedule)
        bridge = self._bridge

        def on_change(_change: OutboxChange) -> None:
            with contextlib.suppress(RuntimeError):  # the panel is gone; the repository outlived it
                bridge.store_changed.emit()

        def on_in_flight() -> None:
            with contextlib.suppress(RuntimeError):
                bridge.in_flight_changed.emit()

        self._bridge.in_flight_changed.connect(self._schedule_turns)
        unsubscribe_store = outbox.subscribe(on_change)
        unsubscribe_turns = outbox.subscribe_in_flight(on_in_flight)

        def unsubscribe() -> None:
            unsubscribe_store()
            unsubscribe_turns()

        self._unsubscribe = unsubscribe
        self.destroyed.connect(lambda *_: unsubscribe())
        self._selection_changed()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 4)
        # the title, the filter and the actions on one line: the dock shows it as its title
        # bar (app/ui/outbox_dock.py), so the outbox has one header line, not two
        self.bar = QWidget()
        bar = self.bar_layout = QHBoxLayout(self.bar)
        bar.setContentsMargins(0, 0, 0, 0)
        title = QLabel("Outbox")
        title.setObjectName("sectionTitle")
        title.setTextFormat(Qt.TextFormat.PlainText)
        bar.addWidget(title)
        self.filter_box = QComboBox()
        self.filter_box.setAccessibleName("Show")
        for key, (label, _states) in FILTERS.items():
            self.filter_box.addItem(label, key)
        self.filter_box.currentIndexChanged.connect(self._filter_changed)
        bar.addWidget(self.filter_box)
        bar.addStretch(1)
        self.retry_button = QPushButton("Retry now")
        self.retry_button.setToolTip("Try to send the selected note again now.")
        self.retry_button.clicked.connect(self.retry_selected)
        self.resend_button = QPushButton("Send again…")
        self.resend_button.setToolTip(
            "Send it although the app could not check whether the EHR has it (look in the "
            "chart first)."
        )
        self.resend_button.clicked.connect(self.ask_resend)
        self.discard_button = QPushButton("Discard…")
        self.discard_button.setToolTip("Do not send the selected note (asks for a reason).")
        self.discard_button.clicked.connect(self.ask_discard)
        self.sync_button = QPushButton("Sync now")
        self.sync_button.setToolTip(tooltip("sync", "Send everything that is waiting now"))
        self.sync_button.clicked.connect(self.sync_now)
        for button in (
            self.retry_button,
            self.resend_button,
            self.discard_button,
            self.sync_button,
        ):
            button.setAutoDefault(False)
            bar.addWidget(button)
        layout.addWidget(self.bar)

        self.message_label = error_label("")
        self.message_label.hide()
        layout.addWidget(self.message_label)

        self.table = OutboxTable(self.model)  # fits the window: no scrolling sideways
        self.table.selectionModel().selectionChanged.connect(self._on_selection)

        self.detail = OutboxDetailView()
        # small enough to open at the bottom of a 1280x720 window without crowding the note
        # (a header and three rows; the detail's first lines); drag the dividers for more
        self.table.setMinimumHeight(72)
        self.detail.text.setMinimumHeight(24)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setCollapsible(0, False)
        self.splitter = splitter
        layout.addWidget(splitter, 1)

    def extra_for_rows(self, rows: int) -> int:
        """How much taller than its minimum the panel must be for the list to show ``rows``
        whole rows."""
        return max(0, self.table.height_for(rows) - self.table.minimumHeight())

    def list_first(self, extra: int) -> None:
        """The panel is ``extra`` taller than its minimum: all of it to the list, the detail
        keeps its first lines (drag the divider for more)."""
        detail = self.detail.minimumSizeHint().height()
        self.splitter.setSizes([self.table.minimumHeight() + max(0, extra), detail])

    # ------------------------------------------------------------------ refreshing
    def _schedule(self) -> None:
        self._pending_changes += 1
        if not self._timer.isActive():
            self._timer.start()

    def _schedule_turns(self) -> None:
        if not self._turn_timer.isActive():
            self._turn_timer.start()

    def _show_turns(self) -> None:
        """The runner's turns changed: the lines' and the detail's words (no store read)."""
        self.model.refresh_turns()
        row, shown = self.selected_row(), self.detail.entry
        if row is not None and shown is not None and shown.row == row:
            self.detail.show_state(row.item, self.model.in_flight)

    def refresh(self) -> None:
        """Re-read the rows on screen and the selected commit (now, not coalesced)."""
        self._timer.stop()
        self.refreshes += 1
        changes, self._pending_changes = self._pending_changes, 0
        try:
            self.model.refresh(changes)
            self._update_counts()
        except ServiceError as exc:
            self.show_message(f"The outbox could not be read: {exc.words}")
            return
        self._selection_changed()

    def _update_counts(self) -> None:
        if self._status is not None and self._status.summary is not None:
            return  # the status model's next summary_updated brings the counts
        self._show_counts(self.outbox.summary())

    def _show_counts(self, summary: OutboxSummary) -> None:
        counts = {
            "all": summary.total,
            "action": summary.needs_attention + summary.conflicts + summary.paused_for_sign_in,
            "pending": summary.pending,
            "confirmed": summary.confirmed,
        }
        for i in range(self.filter_box.count()):
            key = self.filter_box.itemData(i)
            self.filter_box.setItemText(i, f"{FILTERS[key][0]} ({counts[key]})")

    def _filter_changed(self) -> None:
        key = self.filter_box.currentData()
        self.model.set_states(FILTERS[key][1])
        self._selection_changed()

    def set_filter(self, key: str) -> None:
        self.filter_box.setCurrentIndex(self.filter_box.findData(key))

    # ------------------------------------------------------------------ selection
    def selected_row(self) -> OutboxRow | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.row_at(rows[0].row()) if rows else None

    def select_commit(self, commit_id: UUID) -> bool:
        """Select a commit (fetching pages until it is loaded); False when it is not listed."""
        row = self.model.row_of(commit_id)
        while row is None and self.model.canFetchMore():
            self.model.fetchMore()
            row = self.model.row_of(commit_id)
        if row is None:
            return False
        self.table.selectRow(row)
        self.table.scrollTo(self.model.index(row, 0))
        return True

    def _on_selection(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._selection_changed()

    def _selection_changed(self) -> None:
        row = self.selected_row()
        self._update_actions(row)
        if row is None:
            self.detail.clear()
            return
        shown = self.detail.entry
        if shown is not None and shown.row == row:
            self.detail.show_state(row.item, self.model.in_flight)  # its turn may have come
            return  # nothing else changed for the commit on screen
        try:
            detail = self.outbox.detail(row.commit_id)
            self.detail.show_entry(detail.entry, detail.writes, self.model.in_flight)
        except ServiceError as exc:
            self.detail.show_problem(exc.words)

    def _update_actions(self, row: OutboxRow | None) -> None:
        events = allowed_events(row.state) if row is not None else frozenset()
        self.retry_button.setEnabled(row is not None and row.state in _RETRYABLE)
        self.retry_button.setText(
            "Check again now" if row is not None and row.state in _UNKNOWN else "Retry now"
        )
        self.resend_button.setVisible(row is not None and row.state in _RESENDABLE)
        self.discard_button.setEnabled(SyncEvent.USER_DISCARD in events)

    # ------------------------------------------------------------------ actions
    def show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    def sync_now(self) -> None:
        self.show_message("")
        try:
            self.outbox.sync_now()
        except Exception as exc:
            log.error("sync now failed: %s", type(exc).__name__)
            self.show_message(f"Sync could not start: {words_for(exc, _UNEXPECTED)}")

    def retry_selected(self) -> None:
        row = self.selected_row()
        if row is None or row.state not in _RETRYABLE:
            return
        self.show_message("")
        self.tasks.start("outbox-action", self._act(row, self.outbox.retry(row.commit_id)))

    def ask_discard(self) -> None:
        row = self.selected_row()
        if row is None or SyncEvent.USER_DISCARD not in allowed_events(row.state):
            return
        warning = ""
        in_ehr = self.outbox.already_in_ehr(row.commit_id)
        if row.state in _UNKNOWN:
            warning = (
                "The EHR may already have received it. Look in the chart first: discarding "
                "here does not remove anything from the EHR."
            )
        elif in_ehr:
            warning = (
                f"Part of it is already in the EHR ({', '.join(in_ehr)}): discarding here "
                "does not remove it from the EHR."
            )
        what = "The rest of it" if in_ehr else "It"
        dialog = ConfirmDialog(
            "Discard this note?",
            f"{what} will not be sent to the EHR. Notes that amend it will not be sent either. "
            "Your name and reason are recorded. This cannot be undone.",
            "Discard",
            warning=warning,
            reason_label="Why are you discarding it?",
            parent=self,
        )
        dialog.accepted.connect(
            lambda: self.tasks.start(
                "outbox-action",
                self._act(row, self.outbox.discard(row.commit_id, dialog.reason()), "discarded"),
            )
        )
        self._open(dialog)

    def ask_resend(self) -> None:
        row = self.selected_row()
        if row is None or row.state not in _RESENDABLE:
            return
        dialog = ConfirmDialog(
            "Send it again?",
            "The app sent this note but never got an answer, and could not check whether the "
            "EHR stored it. If it is already in the chart, sending it again writes it twice.",
            "Send again",
            check_text="I looked in the chart: this note is not there.",
            parent=self,
        )
        dialog.accepted.connect(
            lambda: self.tasks.start(
                "outbox-action",
                self._act(None, self.outbox.resend(row.commit_id), "sent again"),
            )
        )
        self._open(dialog)

    async def _act(
        self, row: OutboxRow | None, action: Coroutine[Any, Any, None], what: str = "retried"
    ) -> None:
        """Run a clinician's action; say so when it could not be done (the commit moved on)."""
        try:
            await action
        except ServiceError as exc:
            self.show_message(self._moved_on(row, exc, what))
        else:
            self.show_message("")
        self.refresh()

    def _open(self, dialog: ConfirmDialog) -> None:
        if self.dialog is not None:
            self.dialog.reject()
        self.dialog = dialog

        def finished(_result: int) -> None:
            if self.dialog is dialog:
                self.dialog = None
            dialog.deleteLater()

        dialog.finished.connect(finished)
        dialog.open()

    def _moved_on(self, row: OutboxRow | None, exc: ServiceError, what: str) -> str:
        if row is not None:
            try:
                now = self.outbox.item(row.commit_id)
            except Exception:  # the words below still say it failed
                now = None
            if now is not None and now.state is not row.state:
                words = state_words(now, in_flight=self.outbox.in_flight)
                return f"It could not be {what}: it is now “{words}”."
        return f"It could not be {what}: {_reason(exc)}"

    def close_panel(self) -> None:
        """Stop listening to the store (the window is closing)."""
        self._timer.stop()
        self._turn_timer.stop()
        self._unsubscribe()


_UNEXPECTED = "an unexpected problem; if it happens again, tell clinic IT."


def _reason(exc: ServiceError) -> str:
    """The cause's own words, else the service's sentence (never the cause's text)."""
    cause = exc.__cause__
    return words_for(cause, exc.words) if cause is not None else exc.words
