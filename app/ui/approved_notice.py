"""Follows the note just approved until it is in the chart, so the editor's line about it is
never stale: "Approved and queued…" while it is on its way, "Sent to the chart at…" after,
"not in the chart yet…" when the EHR refused it (app.ui.outbox_words.approved_notice).

The outbox tells its listeners on whichever thread stored a change (the sender's); a signal
carries it onto the GUI thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from PySide6.QtCore import QObject, Signal

from app.services.errors import ServiceError
from app.services.outbox import OutboxChange, OutboxService
from app.ui.outbox_words import StatusSentence, approved_notice

NoticeSink = Callable[[StatusSentence], None]


class ApprovedNoteWatch(QObject):
    _changed = Signal(object)  # OutboxChange, on the GUI thread

    def __init__(
        self,
        outbox: OutboxService,
        commit_id: UUID,
        approved_at: datetime,
        show: NoticeSink,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.commit_id = commit_id
        self._approved_at = approved_at
        self._show = show
        self._changed.connect(self._on_change)
        changed = self._changed

        def listener(change: OutboxChange) -> None:
            if change.commit_id == commit_id:
                with contextlib.suppress(RuntimeError):  # the watch is gone
                    changed.emit(change)

        self._unsubscribe = outbox.subscribe(listener)
        with contextlib.suppress(ServiceError):  # it may have moved on already
            self._render(approved_notice(outbox.item(commit_id), approved_at))

    def _on_change(self, change: OutboxChange) -> None:
        self._render(approved_notice(change.item, self._approved_at))

    def _render(self, notice: StatusSentence) -> None:
        self._show(notice)

    def stop(self) -> None:
        self._unsubscribe()
