"""The status bar's sync sentence: a view-model over the outbox summary and the runner status.

:class:`SyncStatusModel` holds no widgets: it reads ``OutboxSummary`` from the store (so the
counts survive restarts), listens to the store's change notifications (coalesced: a burst of
changes costs one query) and to the runner's status (online/offline, paused for sign-in), and
emits ``summary_changed(str)`` with one sentence (see ``app.ui.outbox_words.status_sentence``).
:class:`SyncStatusButton` only renders it and asks for the outbox panel when clicked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from PySide6.QtCore import QObject, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import QToolButton, QWidget

from app.services.errors import ServiceError
from app.services.outbox import OutboxChange, OutboxService, OutboxSummary, RunnerStatus
from app.ui.outbox_model import dot_icon
from app.ui.outbox_words import (
    SEVERITY_COLOURS,
    Severity,
    StatusSentence,
    status_sentence,
)

COALESCE_MS = 150


class RunnerStatusSource(Protocol):
    """What the model needs to know about sending (``OutboxService`` fits; None: not sending)."""

    @property
    def status(self) -> RunnerStatus | None: ...

    def subscribe_status(
        self, listener: Callable[[RunnerStatus | None], None]
    ) -> Callable[[], None]: ...


class _Bridge(QObject):
    """Carries notifications that may come from any thread onto the model's thread."""

    store_changed = Signal()
    status_changed = Signal(object)


class SyncStatusModel(QObject):
    summary_changed = Signal(str)  # the sentence, when it changed
    summary_updated = Signal(object)  # every OutboxSummary read (the panel's counts use it)

    def __init__(
        self,
        outbox: OutboxService,
        runner_status_source: RunnerStatusSource | None = None,
        *,
        coalesce_ms: int = COALESCE_MS,
        clock: Callable[[], datetime] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._outbox = outbox
        self._clock = clock
        self._bridge = _Bridge(self)
        self._bridge.store_changed.connect(self._schedule)
        self._bridge.status_changed.connect(self._on_status)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(coalesce_ms)
        self._timer.timeout.connect(self.refresh)
        self._summary: OutboxSummary | None = None
        self._status: RunnerStatus | None = None
        self._unsubscribe_runner: Callable[[], None] | None = None
        self._sentence = StatusSentence("", Severity.OK)
        self.queries = 0  # how often the store was asked (coalescing is tested with it)
        bridge = self._bridge

        def on_store_change(_change: OutboxChange) -> None:
            with contextlib.suppress(RuntimeError):  # the model is gone; the repository outlived it
                bridge.store_changed.emit()

        unsubscribe_store = outbox.subscribe(on_store_change)
        self.destroyed.connect(lambda *_: unsubscribe_store())
        self._unsubscribe_store = unsubscribe_store
        self.set_runner(runner_status_source, update=False)
        self.refresh()

    # ------------------------------------------------------------------ inputs
    def set_runner(self, source: RunnerStatusSource | None, *, update: bool = True) -> None:
        """Follow another runner (after sign-in), or none (signed out: the queue waits)."""
        if self._unsubscribe_runner is not None:
            self._unsubscribe_runner()
            self._unsubscribe_runner = None
        self._status = None if source is None else source.status
        if source is not None:
            bridge = self._bridge

            def on_status(status: RunnerStatus | None) -> None:
                with contextlib.suppress(RuntimeError):
                    bridge.status_changed.emit(status)

            self._unsubscribe_runner = source.subscribe_status(on_status)
        if update:
            self._update()

    def _schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def _on_status(self, status: RunnerStatus | None) -> None:
        self._status = status
        self._update()

    def refresh(self) -> None:
        """Read the summary from the store now (the timer calls this after changes)."""
        self._timer.stop()
        self.queries += 1
        try:
            self._summary = self._outbox.summary()
            self.summary_updated.emit(self._summary)
        except ServiceError as exc:
            self._summary = None
            self._sentence = StatusSentence(f"Outbox not readable — {exc.words}", Severity.PROBLEM)
            self.summary_changed.emit(self._sentence.text)
            return
        self._update()

    def _update(self) -> None:
        now = self._clock() if self._clock is not None else None
        sentence = status_sentence(self._summary, self._status, now)
        if sentence != self._sentence:
            self._sentence = sentence
            self.summary_changed.emit(sentence.text)

    # ------------------------------------------------------------------ outputs
    @property
    def sentence(self) -> str:
        return self._sentence.text

    @property
    def severity(self) -> Severity:
        return self._sentence.severity

    @property
    def detail(self) -> str:
        return self._sentence.detail

    @property
    def summary(self) -> OutboxSummary | None:
        return self._summary

    @property
    def runner_status(self) -> RunnerStatus | None:
        return self._status

    def close(self) -> None:
        """Stop listening (the window is closing)."""
        self._timer.stop()
        self._unsubscribe_store()
        if self._unsubscribe_runner is not None:
            self._unsubscribe_runner()
            self._unsubscribe_runner = None


class SyncStatusButton(QToolButton):
    """The sentence in the status bar, with a coloured dot; a click opens the outbox."""

    open_requested = Signal()

    def __init__(
        self,
        model: SyncStatusModel,
        on_open: Callable[[], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.setAutoRaise(True)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.setIconSize(QSize(10, 10))
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAccessibleName("Sync status")
        self.clicked.connect(self.open_requested.emit)
        if on_open is not None:
            self.open_requested.connect(on_open)
        model.summary_changed.connect(self._render)
        self._render(model.sentence)

    def _render(self, text: str) -> None:
        severity = self.model.severity
        self.setText(text)  # QToolButton text is never rich text
        self.setIcon(dot_icon(SEVERITY_COLOURS[severity]))
        self.setToolTip(self.model.detail or "Click to open the outbox.")
        self.setProperty("severity", severity.value)
        colour = SEVERITY_COLOURS[severity] if severity is Severity.PROBLEM else ""
        self.setStyleSheet(f"QToolButton {{ color: {colour}; }}" if colour else "")
